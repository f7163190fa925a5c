package main

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// serve replies to every request on one loopback listener with the next
// canned response, and closes the connection after a "Connection: close" one.
func serve(t *testing.T, responses ...string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		next := 0
		for next < len(responses) {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			for next < len(responses) {
				line, err := r.ReadString('\n')
				if err != nil {
					break
				}
				if line != "\r\n" {
					continue // a request line or header
				}
				resp := responses[next]
				next++
				if _, err := conn.Write([]byte(resp)); err != nil || strings.Contains(resp, "Connection: close") {
					break
				}
			}
			_ = conn.Close()
		}
	}()
	return ln.Addr().String()
}

func TestClient_ResponseFraming(t *testing.T) {
	t.Parallel()
	addr := serve(t,
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 204 No Content\r\nContent-Type: text/plain\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nno",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	)
	c := &client{addr: addr, req: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
	defer c.close()
	for i, want := range []int{200, 204, 201, 304, 429, 200} {
		status, err := c.do()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if status != want {
			t.Fatalf("response %d: status %d, expected %d", i, status, want)
		}
	}
}

func TestClient_MalformedStatusLine(t *testing.T) {
	t.Parallel()
	addr := serve(t, "HTTP/1.1 2x0 OK\r\n\r\n")
	c := &client{addr: addr, req: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}
	defer c.close()
	if _, err := c.do(); err == nil || !strings.Contains(err.Error(), "malformed status line") {
		t.Fatalf("error %v, expected a malformed status line", err)
	}
}

func TestParseTarget_OnlyLoopback(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"http://127.0.0.1:7071/api", "http://localhost:1/", "http://[::1]:80/"} {
		if _, err := parseTarget(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1/", "https://127.0.0.1/", "127.0.0.1:80", "http://169.254.169.254/"} {
		if _, err := parseTarget(bad); err == nil {
			t.Errorf("%s is accepted", bad)
		}
	}
}
