package main

import (
	"net"
	"os"
)

// sdNotify tells systemd about the service's state (sd_notify(3)): READY=1
// once it serves, RELOADING=1 while it reloads, STOPPING=1 when it stops.
// Without $NOTIFY_SOCKET (not started by systemd with Type=notify) it does
// nothing.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
