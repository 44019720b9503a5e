package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthcheck asks a running server's health endpoint and exits 0 if it
// answers 200, 1 otherwise: a container's HEALTHCHECK in an image that
// has no shell, curl or wget. It follows no redirects and reads no body.
func healthcheck(args []string, stdout, stderr io.Writer) int {
	fs, url, timeout := healthcheckFlags()
	if _, exit, ok := mustLookup("healthcheck").parse(fs, args, stdout, stderr); !ok {
		return exit
	}
	if err := probeHealth(*url, *timeout); err != nil {
		fmt.Fprintln(stderr, "rampart healthcheck:", err)
		return 1
	}
	return 0
}

func healthcheckFlags() (fs *flag.FlagSet, url *string, timeout *time.Duration) {
	fs = flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	url = fs.String("url", "http://127.0.0.1:8080/healthz", "the health endpoint (http:// only)")
	timeout = fs.Duration("timeout", 2*time.Second, "time allowed to the whole request")
	return fs, url, timeout
}

func probeHealth(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if req.URL.Scheme != "http" {
		return fmt.Errorf("%s: only http:// is probed (point it at a plain-text listener such as metrics.listen)", url)
	}
	c := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
