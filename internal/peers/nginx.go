package peers

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Nginx is a private reverse proxy started for one test, in front of one
// backend, with the configuration the README recommends for the hub.
type Nginx struct {
	Addr string // 127.0.0.1:port

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// NginxLocations is the proxy configuration of the README ("Behind
// nginx"), for the backend at %[1]s. Keep the two the same.
const NginxLocations = `
    location / {
        proxy_pass http://%[1]s;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
    location = /xmpp-websocket {
        proxy_pass http://%[1]s;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 1h;
    }
    location = /http-bind {
        proxy_pass http://%[1]s;
        proxy_http_version 1.1;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 90s;
    }
`

// StartNginx runs nginx in front of backend (host:port) until the test
// ends: one process (no workers to switch users), not a daemon, with its
// files in the test's folder, listening on one loopback port.
func StartNginx(t testing.TB, backend string) *Nginx {
	t.Helper()
	Require(t, "nginx")
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	n := &Nginx{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, done: make(chan struct{})}
	conf := fmt.Sprintf(`# A private proxy for one of GeoHub's tests, written by internal/peers.
daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events {}
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    server {
        listen %[2]s;
%[3]s
    }
}
`, dir, n.Addr, fmt.Sprintf(NginxLocations, backend))
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(sbinBinary("nginx"), "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", file)
	out, err := os.Create(filepath.Join(dir, "nginx.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	n.cmd.Stdout, n.cmd.Stderr = out, out
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
			<-n.done
		}
		if t.Failed() {
			t.Logf("nginx log:\n%s", n.log())
		}
	})
	if err := waitListening(n.Addr, n.done); err != nil {
		t.Fatalf("%v\n%s", err, n.log())
	}
	return n
}

func (n *Nginx) log() string {
	var out []byte
	for _, f := range []string{"nginx.out", "error.log"} {
		b, _ := os.ReadFile(filepath.Join(n.dir, f))
		out = append(out, b...)
	}
	return lastLines(string(out), 40)
}
