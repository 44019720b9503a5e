package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"
)

var (
	errKIDMissing  = errors.New("token has no kid")
	errKIDUnknown  = errors.New("kid not in the key set")
	errJWKMismatch = errors.New("JWK does not fit the token's algorithm")
	errJWKSTooBig  = errors.New("JWKS body exceeds the size limit")
)

// jwksSource holds the last good key set of one JWKS URL and refreshes it.
//
// The set is replaced whole (an atomic pointer), never edited, so readers
// need no lock. Fetches run in the refresh goroutine and, for an unknown kid,
// in Verify itself; unknownKIDs bounds the latter.
type jwksSource struct {
	url         string
	client      *http.Client
	timeout     time.Duration
	log         *slog.Logger
	unknownKIDs *rate.Limiter // bounds the fetches caused by unknown kids

	keys atomic.Pointer[jwkset.Storage] // nil until the first good fetch

	ctx    context.Context // ended by close; bounds every fetch
	cancel context.CancelFunc
	wg     sync.WaitGroup // the refresh goroutine
}

func newJWKSSource(ctx context.Context, c Config) *jwksSource {
	client := jwksClient(c.JWKSHTTPClient, c.JWKSMaxBytes)
	timeout := defaultJWKSTimeout
	if client.Timeout > 0 && client.Timeout < timeout {
		timeout = client.Timeout
	}
	s := &jwksSource{
		url:         c.JWKSURL,
		client:      client,
		timeout:     timeout,
		log:         c.Logger.With("jwks_url", c.JWKSURL),
		unknownKIDs: rate.NewLimiter(rate.Every(c.JWKSRefreshUnknownKIDRate), 1),
	}
	// The refresh lives until close; ctx only bounds the first fetch.
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.fetch(ctx); err != nil {
		s.log.Warn("auth: initial JWKS fetch failed; will retry", "error", err)
	}
	s.wg.Add(1)
	go s.refreshLoop(c.JWKSRefreshInterval)
	return s
}

func (s *jwksSource) close() {
	s.cancel()
	s.wg.Wait()
}

func (s *jwksSource) refreshLoop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := s.fetch(s.ctx); err != nil {
				s.log.Warn("auth: JWKS refresh failed; keeping the last good set", "error", err)
			}
		}
	}
}

// fetch downloads and parses the set, and installs it only when all went
// well: a failed fetch keeps the previous keys.
func (s *jwksSource) fetch(ctx context.Context) error {
	if s.ctx.Err() != nil {
		return errors.New("verifier closed")
	}
	store, err := jwkset.NewStorageFromHTTP(s.url, jwkset.HTTPClientStorageOptions{
		Client:      s.client,
		Ctx:         ctx,
		HTTPTimeout: s.timeout,
		// No RefreshInterval: jwkset starts no goroutine; refreshLoop owns
		// the schedule. Unsupported key types in the set are skipped.
	})
	if err != nil {
		return err
	}
	s.keys.Store(&store)
	return nil
}

// key returns the verification key named kid for a token signed with alg.
// An unknown kid causes one fetch, at most once per unknownKIDs period.
func (s *jwksSource) key(ctx context.Context, kid, alg string) (crypto.PublicKey, error) {
	jwk, err := s.read(ctx, kid)
	if errors.Is(err, errKIDUnknown) && s.unknownKIDs.Allow() {
		s.log.Debug("auth: unknown kid; fetching the JWKS")
		if ferr := s.fetch(ctx); ferr != nil {
			s.log.Warn("auth: JWKS fetch for an unknown kid failed", "error", ferr)
		}
		jwk, err = s.read(ctx, kid)
	}
	if err != nil {
		return nil, err
	}
	return jwkKey(jwk, alg)
}

func (s *jwksSource) read(ctx context.Context, kid string) (jwkset.JWK, error) {
	p := s.keys.Load()
	if p == nil {
		return jwkset.JWK{}, errKIDUnknown
	}
	jwk, err := (*p).KeyRead(ctx, kid)
	if errors.Is(err, jwkset.ErrKeyNotFound) {
		return jwkset.JWK{}, errKIDUnknown
	}
	return jwk, err
}

// jwkKey checks a JWK's own metadata and key type against the token's alg.
func jwkKey(jwk jwkset.JWK, alg string) (crypto.PublicKey, error) {
	m := jwk.Marshal()
	if m.ALG != "" && m.ALG.String() != alg {
		return nil, errJWKMismatch
	}
	if m.USE != "" && m.USE != jwkset.UseSig {
		return nil, errJWKMismatch
	}
	if len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
		return nil, errJWKMismatch
	}
	key := jwk.Key()
	if pk, ok := key.(interface{ Public() crypto.PublicKey }); ok {
		key = pk.Public() // a set that wrongly publishes private keys
	}
	if !keyFitsAlg(key, alg) {
		return nil, errJWKMismatch
	}
	return key, nil
}

// jwksClient returns a copy of base (or a default client) whose response
// bodies are cut off at max bytes.
func jwksClient(base *http.Client, max int64) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	} else {
		c = http.Client{
			Timeout: defaultJWKSTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is a failed fetch
			},
		}
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = limitTransport{base: rt, max: max}
	return &c
}

type limitTransport struct {
	base http.RoundTripper
	max  int64
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes declared, limit %d", errJWKSTooBig, resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

// limitedBody fails a read that would go past the limit, so a body that is
// too long is refused rather than silently truncated.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errJWKSTooBig
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
