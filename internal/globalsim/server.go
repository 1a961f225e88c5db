package globalsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Sim listening on a TCP address, for the command and the
// gateway's demo mode. Tests usually mount Handler on httptest.NewServer
// instead.
type Server struct {
	sim    *Sim
	http   *http.Server
	ln     net.Listener
	served chan error
}

// Start listens on addr ("127.0.0.1:9090"; port 0 picks a free port) and
// serves the simulator on it in the background until Shutdown. The
// identity provider, if any, gets the issuer URL() + IdPPath.
func (s *Sim) Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("globalsim: listen on %s: %w", addr, err)
	}
	if s.idp != nil {
		// The issuer is the address clients reach, known only now.
		if err := s.idp.SetIssuer("http://" + ln.Addr().String() + IdPPath); err != nil {
			return nil, errors.Join(err, ln.Close())
		}
	}
	srv := &Server{
		sim:    s,
		http:   &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second},
		ln:     ln,
		served: make(chan error, 1),
	}
	go func() { srv.served <- srv.http.Serve(ln) }()
	return srv, nil
}

// Addr is the address the server listens on, with the real port when Start
// was given port 0.
func (srv *Server) Addr() net.Addr { return srv.ln.Addr() }

// URL is the base URL of the server, such as "http://127.0.0.1:9090".
func (srv *Server) URL() string { return "http://" + srv.ln.Addr().String() }

// OriginURL is the base URL of one simulated system, such as
// "http://127.0.0.1:9090/masterdata": what the gateway's GLOBAL_*_URL
// settings point at, with the API's "/v1/..." paths appended by the clients.
func (srv *Server) OriginURL(o Origin) string { return srv.URL() + "/" + string(o) }

// Shutdown closes the Sim (answering held and delayed requests 503), then
// shuts the HTTP server down gracefully within ctx. It returns once the
// serving goroutine has ended.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.sim.Close()
	err := srv.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("globalsim: shutdown: %w", err), srv.http.Close())
	}
	if serveErr := <-srv.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("globalsim: serve: %w", serveErr))
	}
	return err
}
