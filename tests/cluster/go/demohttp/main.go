// Command demohttp is the platform's smoke-test workload.
//
//	demohttp serve [-listen :8080]   serves /health, /ready and / (echoes host and env NAME)
//	demohttp get URL                 fetches URL, prints the body, exits 1 on error or non-2xx
//	demohttp resolve NAME            prints the addresses NAME resolves to
//	demohttp tcp HOST:PORT           exits 0 when a TCP connection succeeds
//
// One static binary in a scratch image, so tests need no shell or curl inside the pod.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", ":8080", "address to listen on")
	_ = fs.Parse(args)
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }
	mux.HandleFunc("/health", ok)
	mux.HandleFunc("/ready", ok)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "demohttp name=%s host=%s path=%s\n", os.Getenv("NAME"), host, r.URL.Path)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	fmt.Printf("demohttp listening on %s\n", *listen)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func get(url string) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Print(string(body))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demohttp serve|get URL|resolve NAME|tcp HOST:PORT")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "get":
		err = get(os.Args[2])
	case "resolve":
		var addrs []string
		addrs, err = net.LookupHost(os.Args[2])
		for _, a := range addrs {
			fmt.Println(a)
		}
	case "tcp":
		var c net.Conn
		c, err = net.DialTimeout("tcp", os.Args[2], 5*time.Second)
		if err == nil {
			c.Close()
			fmt.Println("connected")
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
