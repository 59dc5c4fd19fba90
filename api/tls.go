package api

import (
	"crypto/tls"
	"fmt"
)

// TLS is optional: silo usually runs behind a proxy that terminates it, but
// a single node exposed on its own should not send keys in the clear.

func (s *Server) tlsOn() bool { return s.TLSCert != "" || s.TLSKey != "" }

// tlsConfig checks the certificate and key before the server listens, so
// that a wrong path fails the start instead of every handshake.
func (s *Server) tlsConfig() (*tls.Config, error) {
	if s.TLSCert == "" || s.TLSKey == "" {
		return nil, fmt.Errorf("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
	}
	if _, err := tls.LoadX509KeyPair(s.TLSCert, s.TLSKey); err != nil {
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}, nil
}

func (s *Server) scheme() string {
	if s.tlsOn() {
		return "https://"
	}
	return "http://"
}
