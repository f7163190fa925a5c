// Command startup measures how long the handler binary takes from exec to
// its first 200 response on /api/health, over several runs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"time"
)

func main() {
	binary := flag.String("handler", "bin/handler", "handler binary to start (with its environment inherited)")
	port := flag.String("port", "7098", "FUNCTIONS_CUSTOMHANDLER_PORT for the started handler")
	runs := flag.Int("runs", 20, "number of starts")
	flag.Parse()

	url := "http://127.0.0.1:" + *port + "/api/health"
	client := &http.Client{Timeout: time.Second}
	var times []time.Duration
	for i := 0; i < *runs; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, *binary)
		cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+*port, "LOG_LEVEL=error")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "startup:", err)
			os.Exit(1)
		}
		for {
			res, err := client.Get(url)
			if err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			if ctx.Err() != nil {
				fmt.Fprintln(os.Stderr, "startup: /api/health did not answer 200 within 10s")
				os.Exit(1)
			}
			time.Sleep(500 * time.Microsecond)
		}
		times = append(times, time.Since(start))
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		cancel()
	}
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"runs": *runs, "min_ms": ms(times[0]), "median_ms": ms(times[len(times)/2]), "max_ms": ms(times[len(times)-1]),
	})
}
