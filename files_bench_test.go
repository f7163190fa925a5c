package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/booga-enterprise/functions/functions/files"
)

// benchFileBytes is the file size of BenchmarkFiles_Transfer; BENCH_FILE_MB
// overrides it.
func benchFileBytes() int64 {
	if mb, err := strconv.Atoi(os.Getenv("BENCH_FILE_MB")); err == nil && mb > 0 {
		return int64(mb) << 20
	}
	return 200 << 20
}

// randomReader yields n pseudo-random bytes without holding them.
func randomReader(n int64, seed byte) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), n)
}

// peakRSS returns VmHWM, the process's peak resident set, in MiB.
func peakRSS() float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// resetPeakRSS restarts VmHWM from the current RSS (Linux 4.0 and later).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func mbps(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// BenchmarkFiles_Transfer uploads and downloads one file through the plugin
// and directly with azblob, in the same run and with the same bytes, and
// reports throughput and the peak RSS of the whole test process (server and
// client) during the plugin upload. scripts/bench-files runs it.
func BenchmarkFiles_Transfer(b *testing.B) {
	size := benchFileBytes()
	requireAzurite(b)
	p := newTestPlatform(b, nil)
	acme := p.tenant("Acme")
	ctx := context.Background()
	bc := p.app.files.Blob
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := bc.UploadStream(ctx, files.Container, acme.ID+"/bench-direct", randomReader(size, 7), "application/octet-stream"); err != nil {
			b.Fatal(err)
		}
		directUp := time.Since(start)

		resetPeakRSS()
		rssBefore := peakRSS()
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			part, _ := mw.CreateFormFile("file", fmt.Sprintf("bench-%d.bin", i))
			_, err := io.Copy(part, randomReader(size, 7))
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, _ := http.NewRequest("POST", p.srv.URL+"/api/files/files", pr)
		req.Header.Set("Authorization", "Bearer "+acme.APIKey)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		start = time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		pluginUp := time.Since(start)
		rssPeak := peakRSS()
		if res.StatusCode != http.StatusCreated {
			b.Fatalf("upload: %d %s", res.StatusCode, body)
		}
		id := strings.Split(strings.Split(string(body), `"id":"`)[1], `"`)[0]

		start = time.Now()
		rc, err := bc.Download(ctx, files.Container, acme.ID+"/bench-direct", 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, rc)
		rc.Close()
		directDown := time.Since(start)

		req, _ = http.NewRequest("GET", p.srv.URL+"/api/files/files/"+id+"/content", nil)
		req.Header.Set("Authorization", "Bearer "+acme.APIKey)
		start = time.Now()
		res, err = http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		m, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		pluginDown := time.Since(start)
		if n != size || m != size {
			b.Fatalf("downloaded %d and %d bytes, want %d", n, m, size)
		}

		b.ReportMetric(mbps(size, directUp), "direct_up_MB/s")
		b.ReportMetric(mbps(size, pluginUp), "plugin_up_MB/s")
		b.ReportMetric(100*directUp.Seconds()/pluginUp.Seconds(), "up_%_of_direct")
		b.ReportMetric(mbps(size, directDown), "direct_down_MB/s")
		b.ReportMetric(mbps(size, pluginDown), "plugin_down_MB/s")
		b.ReportMetric(100*directDown.Seconds()/pluginDown.Seconds(), "down_%_of_direct")
		b.ReportMetric(rssBefore, "rss_before_MiB")
		b.ReportMetric(rssPeak, "rss_peak_upload_MiB")
	}
}
