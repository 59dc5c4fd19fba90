package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "silo test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS: with a certificate and key the server speaks HTTPS only (a plain
// HTTP request is refused), signed URLs are https, and a wrong key file
// fails Open instead of every handshake.
func TestTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.TLSCert, s.TLSKey = certFile, keyFile }})
	if !strings.HasPrefix(e.URL, "https://") {
		t.Fatalf("URL %s", e.URL)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	orgID, key := e.Org(t, "tls", 0, silo.RoleWriter)
	body, ct := multipartBody(t, [2]string{"data", embedJSONL})
	req := newRequest(t, "POST", e.URL+"/v1/datasets?name=x&type=embed-input", body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ct)
	resp, err := hc.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create over TLS: %v %v", resp, err)
	}
	resp.Body.Close()
	if e.Usage(t, orgID).UsedBytes == 0 {
		t.Fatal("nothing stored")
	}
	plain, err := http.Get("http://" + strings.TrimPrefix(e.URL, "https://") + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode != 400 {
			t.Fatalf("plain HTTP to the TLS port: %d", plain.StatusCode)
		}
	}
	bad := &api.Server{Service: e.Service, Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: certFile}
	if err := bad.Open(); err == nil {
		bad.Close()
		t.Fatal("Open accepted a certificate as its own key")
	}
	half := &api.Server{Service: e.Service, Addr: "127.0.0.1:0", TLSCert: certFile}
	if err := half.Open(); err == nil {
		half.Close()
		t.Fatal("Open accepted a certificate without a key")
	}
}
