// crr: a connect–close load generator for the benchmarks, the shape of netperf's TCP_CRR (not
// packaged in Debian main). A reference tool beside the benchmarks, not part of Twill. The Node.js
// helper it replaces reached ~21,000 connections/s on loopback (crr: ~44,000), its own CPU the
// limit, so its rate moved with the scheduler more than with the datapath being compared.
//
//	crr serve PORT                     accept TCP connections and close each at once
//	crr connect HOST PORT SECONDS CONC  open and close connections for SECONDS (bounded), CONC at a
//	                                   time; prints {"connections":N,"seconds":S,"errors":E}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "crr: "+format+"\n", a...)
	os.Exit(2)
}

func serve(port string) {
	l, err := net.Listen("tcp", "0.0.0.0:"+port)
	if err != nil {
		fail("listen on %s: %v", port, err)
	}
	fmt.Println("ready")
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		c.Close()
	}
}

func connect(host, port string, seconds float64, conc int) {
	addr := net.JoinHostPort(host, port)
	start := time.Now()
	end := start.Add(time.Duration(seconds * float64(time.Second)))
	var n, errors atomic.Int64
	var wg sync.WaitGroup
	buf := make([][]byte, conc)
	for w := 0; w < conc; w++ {
		buf[w] = make([]byte, 64)
		wg.Add(1)
		go func(b []byte) {
			defer wg.Done()
			d := net.Dialer{Timeout: 2 * time.Second}
			for time.Now().Before(end) {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					errors.Add(1)
					continue
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				// The server closes first: read to its FIN, as the Node helper did.
				if _, err := c.Read(b); err == io.EOF {
					n.Add(1)
				} else {
					errors.Add(1)
				}
				c.Close()
			}
		}(buf[w])
	}
	wg.Wait()
	out, _ := json.Marshal(map[string]any{"connections": n.Load(), "seconds": time.Since(start).Seconds(), "errors": errors.Load()})
	fmt.Println(string(out))
}

func main() {
	a := os.Args[1:]
	switch {
	case len(a) == 2 && a[0] == "serve":
		serve(a[1])
	case len(a) == 5 && a[0] == "connect":
		seconds, err1 := strconv.ParseFloat(a[3], 64)
		conc, err2 := strconv.Atoi(a[4])
		if err1 != nil || err2 != nil || seconds <= 0 || seconds > 30 || conc < 1 || conc > 256 {
			fail("connect HOST PORT SECONDS CONC: SECONDS in (0, 30], CONC in 1..256")
		}
		connect(a[1], a[2], seconds, conc)
	default:
		fail("usage: crr serve PORT | crr connect HOST PORT SECONDS CONC")
	}
}
