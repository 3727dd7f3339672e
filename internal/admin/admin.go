// Package admin is the hub's local administration interface: a Unix socket
// in the data folder, readable only by the hub's user, that takes one JSON
// request per connection. While the hub runs, command-line tools use it
// instead of opening the database the hub holds.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// SocketFile is the socket's name inside the data folder.
const SocketFile = "geohub.sock"

// Handler serves one command. args is the request's JSON arguments.
type Handler func(args json.RawMessage) (any, error)

type request struct {
	Cmd  string          `json:"cmd"`
	Args json.RawMessage `json:"args,omitempty"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Server answers admin requests.
type Server struct {
	ln       net.Listener
	handlers map[string]Handler
	log      *slog.Logger
	wg       sync.WaitGroup
}

// Listen opens the socket at path. The caller must hold the data folder's
// lock, so a socket file left by a crashed hub can be removed safely.
func Listen(path string, handlers map[string]Handler, log *slog.Logger) (*Server, error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	s := &Server{ln: ln, handlers: handlers, log: log}
	s.wg.Go(s.serve)
	return s, nil
}

func (s *Server) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.handle(c) })
	}
}

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	defer func() {
		// A bug in one command must not take the hub down.
		if r := recover(); r != nil {
			s.log.Error("admin command panicked", "panic", r)
			json.NewEncoder(c).Encode(response{Error: fmt.Sprint("internal error: ", r)})
		}
	}()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	var req request
	var resp response
	if err := json.NewDecoder(c).Decode(&req); err != nil {
		resp.Error = "bad request: " + err.Error()
	} else if h := s.handlers[req.Cmd]; h == nil {
		resp.Error = "unknown command " + req.Cmd
	} else if out, err := h(req.Args); err != nil {
		resp.Error = err.Error()
	} else if resp.Result, err = json.Marshal(out); err != nil {
		resp.Error = err.Error()
	}
	if resp.Error != "" {
		s.log.Info("admin request failed", "cmd", req.Cmd, "err", resp.Error)
	}
	json.NewEncoder(c).Encode(resp)
}

// Close stops the server and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// Call sends one request to the socket at path and decodes its result into
// out (which may be nil).
func Call(path, cmd string, args, out any) error {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return fmt.Errorf("cannot reach the running hub at %s: %w", path, err)
	}
	defer c.Close()
	raw, err := json.Marshal(args)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(c).Encode(request{Cmd: cmd, Args: raw}); err != nil {
		return err
	}
	var resp response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return fmt.Errorf("reading the hub's answer: %w", err)
	}
	if resp.Error != "" {
		return errors.New(resp.Error)
	}
	if out != nil && resp.Result != nil {
		return json.Unmarshal(resp.Result, out)
	}
	return nil
}
