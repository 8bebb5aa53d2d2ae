package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"
)

// agentToken is the API token the fill and the read benchmark use for an
// agent: the gateway runs with GATEWAY_API_TOKENS naming agent:NAME:fill-NAME
// for each of fillAgents (readbench.sh sets it).
func agentToken(name string) string { return "fill-" + name }

// operatorState gives every every'th of the fill's conversations operator
// state through the API, by its k-th turn: an agent assigns it to themself
// (6 in 10), reads it (4 in 10), replies (3 in 10) and closes it (1 in 10); an admin closes 1
// in 10 unassigned ones and makes 1 in 20 visible to one agent only.
func operatorState(ctx context.Context, client *http.Client, base, admin string, convs, every, conns int) error {
	start := time.Now()
	var errs, done atomic.Int64
	parallel(ctx, conns, 0, (convs+every-1)/every, func(k int) {
		if err := operate(client, base, admin, k*every, k); err != nil && errs.Add(1) < 10 {
			fmt.Fprintln(os.Stderr, err)
		}
		if d := done.Add(1); d%10000 == 0 {
			fmt.Printf("%s: operator state on %d conversations, %d errors\n", time.Now().Format(time.TimeOnly), d, errs.Load())
		}
	})
	fmt.Printf("operator state on %d conversations in %v, %d errors\n", done.Load(), time.Since(start).Round(time.Second), errs.Load())
	return nil
}

// operate gives the conversation of the fill's customer i its state (turn k).
func operate(client *http.Client, base, admin string, i, k int) error {
	id, err := conversationOf(client, base, admin, fillPhone(i))
	if err != nil {
		return err
	}
	agent := fillAgents[k%len(fillAgents)]
	tok := agentToken(agent)
	p := "/conversations/" + id
	type step struct {
		on          bool
		token, path string
		body        any
		method      string
	}
	closer := tok
	if k%10 >= 6 {
		closer = admin // not assigned: only an admin may close it
	}
	steps := []step{
		{k%10 < 6, tok, p + "/assign", map[string]string{"agent": agent}, http.MethodPost},
		{k%10 < 4, tok, p + "/read", nil, http.MethodPost},
		{k%10 < 3, tok, p + "/messages", map[string]string{"text": fmt.Sprintf("reply %d", k)}, http.MethodPost},
		{k%20 == 9, admin, p + "/visibility", map[string][]string{"visible_to": {agent}}, http.MethodPut},
		{k%10 == 5 || k%10 == 7, closer, p + "/status", map[string]string{"status": "closed"}, http.MethodPost},
	}
	for _, s := range steps {
		if !s.on {
			continue
		}
		if _, err := api(client, base, s.token, s.method, s.path, s.body, 0); err != nil {
			return err
		}
	}
	return nil
}

// conversationOf is the id of the newest conversation of the customer with
// phone, found through the API as an agent would: the customer by address,
// then their conversations.
func conversationOf(client *http.Client, base, token, phone string) (string, error) {
	body, err := api(client, base, token, http.MethodGet, "/customers?address="+url.QueryEscape(phone), nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	var cust struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &cust); err != nil {
		return "", err
	}
	if body, err = api(client, base, token, http.MethodGet, "/conversations?limit=1&customer_id="+cust.ID, nil, http.StatusOK); err != nil {
		return "", err
	}
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Data) == 0 {
		return "", fmt.Errorf("no conversation of %s (%v)", phone, err)
	}
	return page.Data[0].ID, nil
}
