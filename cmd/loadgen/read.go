package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// readTarget is one read of the benchmark: its name and the path (under
// /v1) of its next request.
type readTarget struct {
	name string
	path func(r *rand.Rand) string
}

// readBench has -clients keep-alive clients read a filled gateway for
// -duration, each taking the reads in turn, and prints p50/p99 per read.
//
//	loadgen read -url http://127.0.0.1:18182 -token fill-ann -clients 16 -duration 30s
func readBench(args []string) error {
	fs := flag.NewFlagSet("read", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "gateway base URL")
	token := fs.String("token", agentToken("ann"), "API token the clients read with")
	clients := fs.Int("clients", 16, "concurrent keep-alive clients")
	dur := fs.Duration("duration", 30*time.Second, "how long to read")
	convs := fs.Int("conversations", 300000, "customers of the fill (lookups by address pick among them)")
	label := fs.String("label", "", "a name for this run in the table")
	skip := fs.String("skip", "", "reads to leave out, comma-separated names (e.g. stats)")
	fs.Parse(args)
	client := httpClient(*clients)
	targets, err := readTargets(client, *base, *token, *convs)
	if err != nil {
		return err
	}
	targets = slices.DeleteFunc(targets, func(t readTarget) bool { return slices.Contains(strings.Split(*skip, ","), t.name) })
	lat := map[string][]time.Duration{}
	var mu sync.Mutex
	errs := 0
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var wg sync.WaitGroup
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for k := i; ctx.Err() == nil; k++ {
				t := targets[k%len(targets)]
				start := time.Now()
				_, err := api(client, *base, *token, http.MethodGet, t.path(r), nil, http.StatusOK)
				d := time.Since(start)
				mu.Lock()
				if err != nil {
					if errs++; errs < 5 {
						fmt.Println(t.name, err)
					}
				} else if ctx.Err() == nil {
					lat[t.name] = append(lat[t.name], d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	printLatencies(*label, targets, lat, errs)
	return nil
}

func printLatencies(label string, targets []readTarget, lat map[string][]time.Duration, errs int) {
	fmt.Printf("| run | read | requests | p50 ms | p99 ms | max ms |\n|---|---|---:|---:|---:|---:|\n")
	for _, t := range targets {
		l := lat[t.name]
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		p := func(q float64) float64 {
			if len(l) == 0 {
				return 0
			}
			return float64(l[min(len(l)-1, int(q*float64(len(l))))].Microseconds()) / 1000
		}
		fmt.Printf("| %s | %s | %d | %.1f | %.1f | %.1f |\n", label, t.name, len(l), p(.5), p(.99), p(1))
	}
	fmt.Printf("errors: %d\n", errs)
}

// readTargets walks the first 21 pages of conversations once (their
// cursors, conversation and customer ids are what the reads pick from).
func readTargets(client *http.Client, base, token string, convs int) ([]readTarget, error) {
	var cursors, convIDs, custIDs []string
	cur := ""
	for page := 0; page < 21; page++ {
		path := "/conversations"
		if cur != "" {
			path += "?cursor=" + url.QueryEscape(cur)
			cursors = append(cursors, path)
		}
		body, err := api(client, base, token, http.MethodGet, path, nil, http.StatusOK)
		if err != nil {
			return nil, err
		}
		var p struct {
			Data []struct {
				ID         string `json:"id"`
				CustomerID string `json:"customer_id"`
			} `json:"data"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, err
		}
		for _, c := range p.Data {
			convIDs, custIDs = append(convIDs, c.ID), append(custIDs, c.CustomerID)
		}
		if p.NextCursor == nil {
			break
		}
		cur = *p.NextCursor
	}
	if len(cursors) == 0 {
		return nil, fmt.Errorf("fewer than 2 pages of conversations: fill first")
	}
	pick := func(s []string) func(r *rand.Rand) string {
		return func(r *rand.Rand) string { return s[r.IntN(len(s))] }
	}
	fixed := func(p string) func(*rand.Rand) string { return func(*rand.Rand) string { return p } }
	conv, cust := pick(convIDs), pick(custIDs)
	return []readTarget{
		{"first page", fixed("/conversations")},
		{"pages 2-21 by cursor", pick(cursors)},
		{"status=open&assignee=ann", fixed("/conversations?status=open&assignee=ann")},
		{"unreplied=true", fixed("/conversations?unreplied=true")},
		{"stats", fixed("/stats")},
		{"messages page", func(r *rand.Rand) string { return "/conversations/" + conv(r) + "/messages" }},
		{"lookup by address", func(r *rand.Rand) string {
			return "/customers?address=" + url.QueryEscape(fillPhone(r.IntN(convs)))
		}},
		{"timeline page", func(r *rand.Rand) string { return "/customers/" + cust(r) + "/timeline" }},
	}, nil
}
