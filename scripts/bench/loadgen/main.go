// Command loadgen sends HTTP/1.1 GET requests to one URL over keep-alive
// connections and reports throughput and latency percentiles as JSON. With
// -rate 0 it runs closed-loop to find the maximum rate: each connection
// sends its next request when the last one returns. With -rate N it runs
// open-loop, releasing N requests per second on schedule whatever the
// latency, so queueing shows up in the percentiles.
//
// It writes prepared request bytes and reads responses with a small parser
// instead of net/http's client, which costs several goroutine switches per
// request. On a small machine the generator shares the cores with the server
// it measures, and a cheaper generator disturbs the measurement less.
//
// It only targets loopback addresses.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
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
	// Late counts open-loop requests that found every connection busy.
	// Their latency counts from their scheduled time.
	Late int `json:"late,omitempty"`
}

func main() {
	target := flag.String("url", "", "URL to GET (loopback only)")
	duration := flag.Duration("duration", 10*time.Second, "how long to send requests")
	conns := flag.Int("conns", 32, "concurrent connections (closed-loop) or maximum in-flight requests (open-loop)")
	rate := flag.Int("rate", 0, "requests per second to release (open-loop); 0 runs closed-loop at the maximum rate")
	var headers headerFlags
	flag.Var(&headers, "header", "request header as 'Name: value' (repeatable)")
	flag.Parse()

	u, err := parseTarget(*target)
	if err != nil {
		fail(err)
	}
	if *conns < 1 || *rate < 0 {
		fail(errors.New("-conns must be at least 1 and -rate at least 0"))
	}
	raw, err := requestBytes(u, headers)
	if err != nil {
		fail(err)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}

	// Every connection is open before the clock starts, as wrk does, so the
	// first requests do not include a TCP handshake.
	clients := make([]*client, *conns)
	for i := range clients {
		clients[i] = &client{addr: addr, req: raw}
		if err := clients[i].dial(); err != nil {
			fail(err)
		}
	}

	var st stats
	begin := time.Now()
	deadline := begin.Add(*duration)
	var wg sync.WaitGroup
	mode := "closed-loop"
	if *rate == 0 {
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.close()
				for time.Now().Before(deadline) {
					start := time.Now()
					status, err := c.do()
					st.add(time.Since(start), status, err)
				}
			}()
		}
		wg.Wait()
	} else {
		mode = "open-loop"
		// Unbuffered: a slot is taken at once only by an idle connection.
		slots := make(chan time.Time)
		for _, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.close()
				for waitingSince := range slots {
					start := time.Now()
					if !waitingSince.IsZero() {
						start = waitingSince
					}
					status, err := c.do()
					st.add(time.Since(start), status, err)
				}
			}()
		}
		st.late = release(slots, begin, deadline, *rate)
		close(slots)
		wg.Wait()
	}
	seconds := time.Since(begin).Seconds()
	writeResult(st.result(mode, seconds, *rate))
}

// release hands out one slot per request at rate per second until deadline.
// After a late wake-up it releases every slot that is due, so the average
// rate holds even when the sleep overshoots. A slot that no idle connection
// takes at once carries its scheduled time, and its request's latency
// counts from then, so queueing for a connection is measured. Other requests
// count from just before they are written, as wrk counts, so the
// generator's own scheduling is not charged to the server. It returns how
// many slots had to wait.
func release(slots chan<- time.Time, begin, deadline time.Time, rate int) int {
	interval := time.Second / time.Duration(rate)
	late := 0
	next := begin
	for next.Before(deadline) {
		now := time.Now()
		for !next.After(now) && next.Before(deadline) {
			select {
			case slots <- time.Time{}:
			default:
				late++
				slots <- next
			}
			next = next.Add(interval)
		}
		time.Sleep(time.Until(next))
	}
	return late
}

type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	errs      int
	non2xx    int
	late      int
}

func (s *stats) add(latency time.Duration, status int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs++
		return
	}
	if status < 200 || status > 299 {
		s.non2xx++
	}
	s.latencies = append(s.latencies, latency)
}

func (s *stats) result(mode string, seconds float64, rate int) Result {
	slices.Sort(s.latencies)
	pct := func(p float64) float64 {
		if len(s.latencies) == 0 {
			return 0
		}
		i := int(p * float64(len(s.latencies)-1))
		return float64(s.latencies[i].Microseconds()) / 1000
	}
	return Result{Mode: mode, Requests: len(s.latencies) + s.errs, Errors: s.errs, Non2xx: s.non2xx,
		Seconds: seconds, RPS: float64(len(s.latencies)) / seconds,
		P50Millis: pct(0.50), P90Millis: pct(0.90), P99Millis: pct(0.99), MaxMillis: pct(1),
		TargetRate: rate, Late: s.late}
}

func writeResult(r Result) {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(r)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(2)
}

// parseTarget accepts an absolute http URL whose host is a loopback address.
func parseTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-url %q is not an absolute URL", raw)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("-url %q must use http", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-url host %q is not a loopback address; loadgen only targets this machine", host)
	}
	return u, nil
}

// requestBytes builds the GET request that every send writes.
func requestBytes(u *url.URL, headers []string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: booga-loadgen\r\n", u.RequestURI(), u.Host)
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name+value, "\r\n") {
			return nil, fmt.Errorf("-header %q must be 'Name: value' on one line", h)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", name, value)
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// client is one keep-alive connection; it dials again after an error or a
// "Connection: close".
type client struct {
	addr string
	req  []byte
	conn net.Conn
	r    *bufio.Reader
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *client) dial() error {
	conn, err := net.Dial("tcp", c.addr)
	if err != nil {
		return err
	}
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 16<<10)
	return nil
}

// do sends the request and reads the whole response; it returns the status.
func (c *client) do() (int, error) {
	if c.conn == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	}
	status, keep, err := c.exchange()
	if err != nil || !keep {
		c.close()
	}
	return status, err
}

// requestTimeout bounds one exchange, so a stuck server ends the run with
// errors instead of hanging it.
const requestTimeout = 30 * time.Second

func (c *client) exchange() (status int, keep bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, false, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, false, err
	}
	for {
		if status, err = c.statusLine(); err != nil {
			return 0, false, err
		}
		if status >= 200 {
			break
		}
		// An interim 1xx response: skip its header block.
		if _, _, _, err := c.headers(); err != nil {
			return 0, false, err
		}
	}
	length, chunked, keep, err := c.headers()
	if err != nil {
		return 0, false, err
	}
	switch {
	case status == 204 || status == 304:
		// These statuses never have a body, whatever the headers contain.
	case chunked:
		err = c.discardChunks()
	case length >= 0:
		_, err = c.r.Discard(int(length))
	default:
		// No length: the body ends when the server closes the connection.
		_, err = io.Copy(io.Discard, c.r)
		keep = false
	}
	return status, keep, err
}

// statusLine reads a line such as "HTTP/1.1 200 OK" and returns the status.
func (c *client) statusLine() (int, error) {
	line, err := c.line()
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !strings.HasPrefix(line, "HTTP/1.") || line[8] != ' ' {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	status, err := strconv.Atoi(line[9:12])
	if err != nil {
		return 0, fmt.Errorf("malformed status line %q", line)
	}
	return status, nil
}

// headers reads a header block and returns what framing the body needs:
// its Content-Length (-1 when absent), whether it is chunked, and whether
// the connection stays open.
func (c *client) headers() (length int64, chunked, keep bool, err error) {
	length, keep = -1, true
	for {
		line, err := c.line()
		if err != nil {
			return 0, false, false, err
		}
		if line == "" {
			return length, chunked, keep, nil
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Content-Length"):
			if length, err = strconv.ParseInt(value, 10, 64); err != nil || length < 0 {
				return 0, false, false, fmt.Errorf("malformed Content-Length %q", value)
			}
		case strings.EqualFold(name, "Transfer-Encoding"):
			// chunked is always the last coding when present.
			chunked = strings.HasSuffix(strings.ToLower(value), "chunked")
		case strings.EqualFold(name, "Connection"):
			for _, option := range strings.Split(value, ",") {
				if strings.EqualFold(strings.TrimSpace(option), "close") {
					keep = false
				}
			}
		}
	}
}

func (c *client) discardChunks() error {
	for {
		line, err := c.line()
		if err != nil {
			return err
		}
		sizeText, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("malformed chunk size %q", line)
		}
		if size == 0 {
			for {
				trailer, err := c.line()
				if err != nil || trailer == "" {
					return err
				}
			}
		}
		if _, err := c.r.Discard(int(size) + 2); err != nil {
			return err
		}
	}
}

// line reads one CRLF-terminated line without its line ending.
func (c *client) line() (string, error) {
	b, err := c.r.ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
