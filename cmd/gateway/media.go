package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/opengateway/gateway/core/media"
)

// userAgent is sent on every outbound request: name/x.y.z with no slash or
// dot in the name, the pattern the WhatsApp Cloud API requires.
func userAgent() string { return "gateway/" + version }

// publicBase is the URL the gateway's own links start with.
func (g *Gateway) publicBase() string {
	if g.cfg.PublicURL != "" {
		return g.cfg.PublicURL
	}
	host, port, err := net.SplitHostPort(g.cfg.HTTPAddr)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// mediaCopier builds (once) the media store under the data dir with every
// connector's fetchers; ingest stores email attachments in it, core copies
// the other providers' files.
func (g *Gateway) mediaCopier() (*media.Copier, error) {
	if g.media != nil {
		return g.media, nil
	}
	cfg := g.cfg
	secret, err := keyFile(cfg.MediaSecret, cfg.DataDir, "media.key")
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_MEDIA_SECRET: %w", err)
	}
	conns, err := g.connectors()
	if err != nil {
		return nil, err
	}
	fetchers, err := fetchersOf(conns)
	if err != nil {
		return nil, err
	}
	attach, err := media.ParseHosts(cfg.MediaAllowedHosts)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_MEDIA_ALLOWED_HOSTS: %w", err)
	}
	g.media = media.NewCopier(media.Dir{Root: filepath.Join(cfg.DataDir, "media")}, fetchers, media.Config{
		PublicURL: g.publicBase(), Secret: secret, MaxBytes: cfg.MediaMaxBytes, URLTTL: cfg.MediaURLTTL,
		AttachmentHosts: attach,
	}, g.log, g.reg)
	return g.media, nil
}

// keyFile is the configured key, or one made once and kept under the data
// dir (so links and visitor tokens survive a restart).
func keyFile(configured, dataDir, name string) ([]byte, error) {
	key, err := persisted(configured, dataDir, name, 32, func() (string, error) {
		var k [32]byte
		_, err := rand.Read(k[:])
		return hex.EncodeToString(k[:]), err
	})
	return []byte(key), err
}

// persisted is the configured value, or the one kept in dataDir/name (at
// least min bytes), or a new one made once and kept there, so that it
// survives a restart.
func persisted(configured, dataDir, name string, min int, make func() (string, error)) (string, error) {
	if configured != "" {
		return configured, nil
	}
	path := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= min {
		return strings.TrimSpace(string(b)), nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	v, err := make()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}
