package providertest_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/providertest"
)

// call sends one raw request to a fake and returns the status, headers and
// decoded JSON body (nil when the body is empty or not JSON).
func call(t *testing.T, method, u, contentType, body string, header map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

const form = "application/x-www-form-urlencoded"

func twilioAuth(sid, token string) map[string]string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(sid, token)
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

func TestTwilioChecks(t *testing.T) {
	fake := providertest.NewTwilio(t)
	path := "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/Messages.json"
	auth := twilioAuth(providertest.TwilioAccountSID, providertest.TwilioAuthToken)
	ok := url.Values{"To": {"+15558675310"}, "From": {"+15017122661"}, "Body": {"hi"}}
	with := func(k, v string) string {
		f := url.Values{}
		for kk, vv := range ok {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f.Encode()
	}
	tests := map[string]struct {
		method, path, ctype, body string
		header                    map[string]string
		status, code              int
	}{
		"valid":               {"POST", path, form, ok.Encode(), auth, 201, 0},
		"GET":                 {"GET", path, form, "", auth, 405, 20004},
		"wrong path":          {"POST", "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/SMS.json", form, ok.Encode(), auth, 404, 20404},
		"no auth":             {"POST", path, form, ok.Encode(), nil, 401, 20003},
		"wrong token":         {"POST", path, form, ok.Encode(), twilioAuth(providertest.TwilioAccountSID, "nope"), 401, 20003},
		"JSON body":           {"POST", path, "application/json", `{"To":"+15558675310"}`, auth, 400, 20001},
		"no To":               {"POST", path, form, with("To", ""), auth, 400, 21604},
		"no From":             {"POST", path, form, with("From", ""), auth, 400, 21603},
		"no Body":             {"POST", path, form, with("Body", ""), auth, 400, 21602},
		"Body too long":       {"POST", path, form, with("Body", strings.Repeat("a", 1601)), auth, 400, 21617},
		"To not E.164":        {"POST", path, form, with("To", "5551234"), auth, 400, 21211},
		"WhatsApp to SMS":     {"POST", path, form, with("To", "whatsapp:+15558675310"), auth, 400, 21910},
		"bad variables":       {"POST", path, form, with("ContentVariables", "{nope"), auth, 400, 21656},
		"messaging service":   {"POST", path, form, url.Values{"To": {"+15558675310"}, "MessagingServiceSid": {"MG0"}, "MediaUrl": {"https://x/a.jpg"}}.Encode(), auth, 201, 0},
		"unsubscribed number": {"POST", path, form, with("To", providertest.TwilioUnsubscribedNumber), auth, 400, 21610},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, body := call(t, tc.method, fake.URL+tc.path, tc.ctype, tc.body, tc.header)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if tc.code != 0 && body["code"] != float64(tc.code) {
				t.Errorf("code = %v, want %d", body["code"], tc.code)
			}
			if tc.status == 201 && (!strings.HasPrefix(body["sid"].(string), "SM") || len(body["sid"].(string)) != 34 || body["num_segments"] != "1") {
				t.Errorf("success body = %v", body)
			}
		})
	}
}

func TestTwilioIdempotencyToken(t *testing.T) {
	fake := providertest.NewTwilio(t)
	u := fake.URL + "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/Messages.json"
	h := twilioAuth(providertest.TwilioAccountSID, providertest.TwilioAuthToken)
	h["I-Twilio-Idempotency-Token"] = "msg-1"
	body := url.Values{"To": {"+15558675310"}, "From": {"+15017122661"}, "Body": {"hi"}}.Encode()
	_, _, first := call(t, "POST", u, form, body, h)
	_, _, again := call(t, "POST", u, form, body, h)
	h["I-Twilio-Idempotency-Token"] = "msg-2"
	_, _, other := call(t, "POST", u, form, body, h)
	if first["sid"] != again["sid"] || first["sid"] == other["sid"] {
		t.Errorf("sids %v %v %v: a repeated token must return the first message, a new one a new message", first["sid"], again["sid"], other["sid"])
	}
	if fake.Accepted() != 2 || fake.Duplicates() != 1 || fake.Received() != 3 || len(fake.Messages()) != 2 {
		t.Errorf("accepted %d duplicates %d received %d", fake.Accepted(), fake.Duplicates(), fake.Received())
	}
}

func TestSendGridChecks(t *testing.T) {
	fake := providertest.NewSendGrid(t)
	auth := map[string]string{"Authorization": "Bearer " + providertest.SendGridAPIKey}
	const valid = `{"from":{"email":"a@example.com"},"subject":"s","personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":"x"}]}`
	tests := map[string]struct {
		path, ctype, body string
		header            map[string]string
		status            int
		field             string
	}{
		"valid": {"/v3/mail/send", "application/json", valid, auth, 202, ""},
		"template, no subject or content": {"/v3/mail/send", "application/json",
			`{"from":{"email":"a@example.com"},"template_id":"d-1","personalizations":[{"to":[{"email":"b@example.com"}]}]}`, auth, 202, ""},
		"wrong path":         {"/v3/mail/sends", "application/json", valid, auth, 404, ""},
		"no key":             {"/v3/mail/send", "application/json", valid, nil, 401, ""},
		"form body":          {"/v3/mail/send", form, "a=b", auth, 400, ""},
		"no personalization": {"/v3/mail/send", "application/json", `{"from":{"email":"a@example.com"},"subject":"s","content":[{"type":"text/plain","value":"x"}]}`, auth, 400, "personalizations"},
		"empty to": {"/v3/mail/send", "application/json",
			`{"from":{"email":"a@example.com"},"subject":"s","personalizations":[{"to":[]}],"content":[{"type":"text/plain","value":"x"}]}`, auth, 400, "personalizations.0.to"},
		"no from": {"/v3/mail/send", "application/json",
			`{"subject":"s","personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":"x"}]}`, auth, 400, "from"},
		"no subject": {"/v3/mail/send", "application/json",
			`{"from":{"email":"a@example.com"},"personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":"x"}]}`, auth, 400, "subject"},
		"empty content value": {"/v3/mail/send", "application/json",
			`{"from":{"email":"a@example.com"},"subject":"s","personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":""}]}`, auth, 400, "content.0.value"},
		"html before text": {"/v3/mail/send", "application/json",
			`{"from":{"email":"a@example.com"},"subject":"s","personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/html","value":"x"},{"type":"text/plain","value":"x"}]}`, auth, 400, "content.1.type"},
		"reserved header": {"/v3/mail/send", "application/json",
			`{"from":{"email":"a@example.com"},"subject":"s","headers":{"Subject":"x"},"personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":"x"}]}`, auth, 400, "headers"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, h, body := call(t, "POST", fake.URL+tc.path, tc.ctype, tc.body, tc.header)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if status == 202 && h.Get("X-Message-Id") == "" {
				t.Error("202 without X-Message-Id")
			}
			if tc.field != "" {
				errs, _ := body["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
					t.Errorf("errors = %v, want field %q", body["errors"], tc.field)
				}
			}
		})
	}
}

// A key sends only from its sender identities (an address, or any address
// of an authenticated domain): another from address is 403, as SendGrid
// answers; an unknown key is 401.
func TestSendGridSenderIdentities(t *testing.T) {
	fake := providertest.NewSendGrid(t)
	fake.AddKey("SG.eu.key", "support@eu.example", "shop.example")
	fake.AddKey(providertest.SendGridAPIKey, "help@us.example")
	mail := func(from string) string {
		return `{"from":{"email":"` + from + `"},"subject":"s","personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":"x"}]}`
	}
	for _, tc := range []struct {
		key, from string
		status    int
	}{
		{"SG.eu.key", "support@eu.example", 202},
		{"SG.eu.key", "Anyone@Shop.example", 202},
		{"SG.eu.key", "help@us.example", 403},
		{"SG.eu.key", "x@sub.shop.example", 403},
		{providertest.SendGridAPIKey, "help@us.example", 202},
		{providertest.SendGridAPIKey, "support@eu.example", 403},
		{"SG.unknown", "help@us.example", 401},
	} {
		status, _, body := call(t, "POST", fake.URL+"/v3/mail/send", "application/json", mail(tc.from),
			map[string]string{"Authorization": "Bearer " + tc.key})
		if status != tc.status {
			t.Errorf("%s from %s: %d %v, want %d", tc.key, tc.from, status, body, tc.status)
			continue
		}
		if errs, _ := body["errors"].([]any); status == 403 && (len(errs) == 0 || errs[0].(map[string]any)["field"] != "from") {
			t.Errorf("%s from %s: errors %v, want field from", tc.key, tc.from, body["errors"])
		}
	}
	if m := fake.Mails(); len(m) != 3 || m[0].APIKey != "SG.eu.key" || m[2].APIKey != providertest.SendGridAPIKey {
		t.Errorf("mails %+v", m)
	}
}

func TestMetaChecks(t *testing.T) {
	fake := providertest.NewMeta(t)
	wa := "/v23.0/" + providertest.MetaPhoneNumberID + "/messages"
	waAuth := map[string]string{"Authorization": "Bearer " + providertest.MetaWhatsAppToken, "User-Agent": "gateway/1.0.0"}
	pageAuth := map[string]string{"Authorization": "Bearer " + providertest.MetaPageToken}
	const text = `{"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234","type":"text","text":{"body":"hi"}}`
	tests := map[string]struct {
		path, ctype, body string
		header            map[string]string
		status, code      int
	}{
		"whatsapp text":     {wa, "application/json", text, waAuth, 200, 0},
		"no version":        {"/" + providertest.MetaPhoneNumberID + "/messages", "application/json", text, waAuth, 400, 2500},
		"no token":          {wa, "application/json", text, nil, 400, 2500},
		"page token on WA":  {wa, "application/json", text, map[string]string{"Authorization": "Bearer " + providertest.MetaPageToken}, 401, 190},
		"unknown number":    {"/v23.0/999/messages", "application/json", text, waAuth, 400, 100},
		"form body":         {wa, form, "a=b", waAuth, 400, 100},
		"bad user agent":    {wa, "application/json", text, map[string]string{"Authorization": "Bearer " + providertest.MetaWhatsAppToken, "User-Agent": "curl/8"}, 400, 100},
		"no product":        {wa, "application/json", `{"recipient_type":"individual","to":"1","type":"text","text":{"body":"hi"}}`, waAuth, 400, 100},
		"no recipient_type": {wa, "application/json", `{"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":"hi"}}`, waAuth, 400, 100},
		"no to":             {wa, "application/json", `{"messaging_product":"whatsapp","recipient_type":"individual","type":"text","text":{"body":"hi"}}`, waAuth, 400, 100},
		"type without object": {wa, "application/json",
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"1","type":"image"}`, waAuth, 400, 100},
		"image by link": {wa, "application/json",
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"1","type":"image","image":{"link":"https://x/a.jpg"}}`, waAuth, 200, 0},
		"template without policy": {wa, "application/json",
			`{"messaging_product":"whatsapp","recipient_type":"individual","to":"1","type":"template","template":{"name":"t","language":{"code":"en"}}}`, waAuth, 400, 100},
		"messenger text": {"/v23.0/me/messages", "application/json",
			`{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`, pageAuth, 200, 0},
		"messenger token in query": {"/v23.0/me/messages?access_token=" + providertest.MetaPageToken, "application/json",
			`{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`, nil, 200, 0},
		"messenger no messaging_type": {"/v23.0/me/messages", "application/json",
			`{"recipient":{"id":"1"},"message":{"text":"hi"}}`, pageAuth, 400, 100},
		"messenger tag missing": {"/v23.0/me/messages", "application/json",
			`{"recipient":{"id":"1"},"messaging_type":"MESSAGE_TAG","message":{"text":"hi"}}`, pageAuth, 400, 100},
		"messenger no recipient": {"/v23.0/me/messages", "application/json",
			`{"messaging_type":"RESPONSE","message":{"text":"hi"}}`, pageAuth, 400, 100},
		"messenger text and attachment": {"/v23.0/me/messages", "application/json",
			`{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"hi","attachment":{"type":"image","payload":{"url":"https://x"}}}}`, pageAuth, 400, 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, body := call(t, "POST", fake.URL+tc.path, tc.ctype, tc.body, tc.header)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if tc.code != 0 {
				e, _ := body["error"].(map[string]any)
				if e["code"] != float64(tc.code) || e["fbtrace_id"] == "" || e["message"] == "" {
					t.Errorf("error = %v, want code %d", body, tc.code)
				}
			}
			if status == 200 && strings.HasPrefix(tc.path, wa) {
				msgs, _ := body["messages"].([]any)
				if len(msgs) != 1 || !strings.HasPrefix(msgs[0].(map[string]any)["id"].(string), "wamid.") || body["messaging_product"] != "whatsapp" {
					t.Errorf("success body = %v", body)
				}
			}
			if status == 200 && strings.Contains(tc.path, "/me/") && (body["message_id"] == nil || body["recipient_id"] != "1") {
				t.Errorf("success body = %v", body)
			}
		})
	}
}

func TestScripting(t *testing.T) {
	fake := providertest.NewSendGrid(t)
	auth := map[string]string{"Authorization": "Bearer " + providertest.SendGridAPIKey}
	const valid = `{"from":{"email":"a@example.com"},"subject":"s","personalizations":[{"to":[{"email":"b@example.com"}]}],"content":[{"type":"text/plain","value":"x"}]}`
	send := func() (int, http.Header) {
		s, h, _ := call(t, "POST", fake.URL+"/v3/mail/send", "application/json", valid, auth)
		return s, h
	}

	fake.FailNext(2, 429, "", map[string]string{"Retry-After": "5"})
	fake.FailNext(1, 500, "", nil)
	var got []int
	for range 4 {
		s, h := send()
		got = append(got, s)
		if s == 429 && h.Get("Retry-After") != "5" {
			t.Errorf("429 without the scripted Retry-After")
		}
	}
	if want := []int{429, 429, 500, 202}; !equalInts(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if fake.Rejected() != 3 || fake.Accepted() != 1 || fake.Received() != 4 || len(fake.Requests()) != 4 {
		t.Errorf("rejected %d accepted %d received %d", fake.Rejected(), fake.Accepted(), fake.Received())
	}

	// A request that hangs past the client's deadline creates nothing.
	fake.Reset()
	fake.HangNext(1, time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "POST", fake.URL+"/v3/mail/send", strings.NewReader(valid))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth["Authorization"])
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("hanging request answered")
	}
	cancel()
	waitFor(t, func() bool { return fake.Abandoned() == 1 })
	if fake.Accepted() != 0 {
		t.Errorf("a hung request was accepted")
	}
	if s, _ := send(); s != 202 {
		t.Errorf("after HangNext(1): status %d", s)
	}

	// Latency delays every answer.
	fake.SetLatency(30 * time.Millisecond)
	start := time.Now()
	send()
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("answer after %v, want at least the latency", d)
	}
	fake.SetLatency(0)

	// Counters and records are safe under concurrent senders.
	fake.Reset()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { send() })
	}
	wg.Wait()
	if fake.Accepted() != 20 || len(fake.Requests()) != 20 || len(fake.Mails()) < 20 {
		t.Errorf("accepted %d, recorded %d", fake.Accepted(), len(fake.Requests()))
	}
}

// AcceptThenHang: the provider sends the message and the answer is lost.
func TestAcceptThenHang(t *testing.T) {
	fake := providertest.NewMeta(t)
	fake.AcceptThenHang(1)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", fake.URL+"/v23.0/me/messages",
		strings.NewReader(`{"recipient":{"id":"1"},"messaging_type":"RESPONSE","message":{"text":"hi"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+providertest.MetaPageToken)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("answered")
	}
	if fake.Accepted() != 1 || len(fake.Messages()) != 1 {
		t.Errorf("accepted %d, want the message sent", fake.Accepted())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Two accounts: each sends only under its own SID with its own auth token;
// the other account's token is 401, as Twilio answers, and an accepted
// message names the account it was sent under.
func TestTwilioTwoAccounts(t *testing.T) {
	fake := providertest.NewTwilio(t)
	const uk, ukToken = "ACfedcba9876543210fedcba9876543210", "uk-token-0123"
	fake.AddAccount(uk, ukToken)
	ok := url.Values{"To": {"+15558675310"}, "From": {"+447700900123"}, "Body": {"hi"}}.Encode()
	path := func(sid string) string { return fake.URL + "/2010-04-01/Accounts/" + sid + "/Messages.json" }
	for _, c := range []struct {
		name, sid, user, token string
		want                   int
	}{
		{"second account", uk, uk, ukToken, 201},
		{"first account", providertest.TwilioAccountSID, providertest.TwilioAccountSID, providertest.TwilioAuthToken, 201},
		{"second account with the first's token", uk, uk, providertest.TwilioAuthToken, 401},
		{"first account with the second's token", providertest.TwilioAccountSID, providertest.TwilioAccountSID, ukToken, 401},
		{"second account's path under the first's credentials", uk, providertest.TwilioAccountSID, providertest.TwilioAuthToken, 404},
	} {
		if status, _, body := call(t, "POST", path(c.sid), form, ok, twilioAuth(c.user, c.token)); status != c.want {
			t.Errorf("%s: %d %v, want %d", c.name, status, body, c.want)
		}
	}
	msgs := fake.Messages()
	if len(msgs) != 2 || msgs[0].AccountSID != uk || msgs[1].AccountSID != providertest.TwilioAccountSID {
		t.Errorf("messages %+v", msgs)
	}
}
