// Command loadgen sends HTTP GET requests to one URL and reports throughput
// and latency percentiles as JSON. With -rate 0 it runs closed-loop (each
// connection sends its next request when the last one returns) to find the
// maximum rate; with -rate N it runs open-loop, starting N requests per second
// on schedule whatever the latency, so queueing shows up in the percentiles.
//
// It only targets loopback addresses.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// Result is the JSON report.
type Result struct {
	Mode       string  `json:"mode"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Non2xx     int     `json:"non_2xx"`
	Seconds    float64 `json:"seconds"`
	RPS        float64 `json:"rps"`
	P50Millis  float64 `json:"p50_ms"`
	P90Millis  float64 `json:"p90_ms"`
	P99Millis  float64 `json:"p99_ms"`
	MaxMillis  float64 `json:"max_ms"`
	TargetRate int     `json:"target_rate,omitempty"`
}

func main() {
	target := flag.String("url", "", "URL to GET (loopback only)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send requests")
	conns := flag.Int("conns", 32, "concurrent connections (closed-loop) or maximum in-flight requests (open-loop)")
	rate := flag.Int("rate", 0, "requests per second to start (open-loop); 0 runs closed-loop at the maximum rate")
	var headers headerFlags
	flag.Var(&headers, "header", "request header as 'Name: value' (repeatable)")
	flag.Parse()

	if err := checkLoopback(*target); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}}
	req, err := http.NewRequest(http.MethodGet, *target, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			fmt.Fprintf(os.Stderr, "loadgen: -header %q must be 'Name: value'\n", h)
			os.Exit(2)
		}
		req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int
		non2xx    int
	)
	send := func() {
		start := time.Now()
		res, err := client.Do(req.Clone(req.Context()))
		elapsed := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode < 200 || res.StatusCode > 299 {
			non2xx++
		}
		latencies = append(latencies, elapsed)
	}

	begin := time.Now()
	deadline := begin.Add(*duration)
	var wg sync.WaitGroup
	mode := "closed-loop"
	if *rate == 0 {
		for i := 0; i < *conns; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					send()
				}
			}()
		}
	} else {
		mode = "open-loop"
		slots := make(chan struct{}, *conns)
		interval := time.Second / time.Duration(*rate)
		for next := begin; next.Before(deadline); next = next.Add(interval) {
			time.Sleep(time.Until(next))
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				send()
				<-slots
			}()
		}
	}
	wg.Wait()
	seconds := time.Since(begin).Seconds()

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(latencies)-1))
		return float64(latencies[i].Microseconds()) / 1000
	}
	out := Result{Mode: mode, Requests: len(latencies) + errs, Errors: errs, Non2xx: non2xx, Seconds: seconds,
		RPS: float64(len(latencies)) / seconds, P50Millis: pct(0.50), P90Millis: pct(0.90), P99Millis: pct(0.99),
		MaxMillis: pct(1), TargetRate: *rate}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-url %q is not an absolute URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-url host %q is not a loopback address; loadgen only targets this machine", host)
	}
	return nil
}
