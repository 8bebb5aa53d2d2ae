package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/opengateway/gateway/connectors/providertest"
	"github.com/opengateway/gateway/connectors/sendgrid"
	"github.com/opengateway/gateway/connectors/twilio"
	"github.com/opengateway/gateway/core"
	"github.com/opengateway/gateway/core/kafkabus"
	"github.com/opengateway/gateway/normalize"
)

// splitEntryPoints is an entry points file of two Twilio numbers (one on
// the connector's account, one on an account of its own with its own
// route) and two SendGrid entry points (a mailbox with credentials of its
// own, a domain on the connector's), each with an inbox of its own.
const splitEntryPoints = `entry_points:
  - id: support-us
    provider: twilio
    address: "+15558675310"
    inbox: us
  - id: support-uk
    provider: twilio
    address: "+447700900123"
    inbox: uk
    credentials:
      account_sid: TWILIO_ACCOUNT_SID_UK
      auth_token: TWILIO_AUTH_TOKEN_UK
  - id: mail-eu
    provider: sendgrid
    address: support@eu.example
    inbox: eu
    credentials:
      api_key: SENDGRID_API_KEY_EU
      inbound_user: SENDGRID_INBOUND_USER_EU
      inbound_password: SENDGRID_INBOUND_PASSWORD_EU
  - id: mail-shop
    provider: sendgrid
    address: shop.example
    inbox: shop
`

// splitInboxes are the entry points of splitEntryPoints and their inboxes.
var splitInboxes = []struct{ entry, inbox string }{
	{"support-us", "us"}, {"support-uk", "uk"}, {"mail-eu", "eu"}, {"mail-shop", "shop"}}

// splitCustomer is a customer of TestEntryPointsWithRolesSplit: who writes
// to which entry point.
type splitCustomer struct{ entry, address string }

// Entry points as deployed: the roles in processes of their own (two
// ingest, two core, one outbox) on PostgreSQL and one broker process, with
// the splitEntryPoints file. Two customers write to every entry point (one
// whose contact key is on a partition of each core instance), each message
// signed with the entry point's own credentials and sent to both ingest
// instances in turn: each conversation lands in its entry point's inbox
// (read through the API of both core instances), each message is once in
// the store and once on events.v1; replies posted through both core
// instances leave from the entry point's number or address under its
// account or API key at the fake providers, once each, and a webhook for a
// number no entry point has is on dlq.v1 once.
func TestEntryPointsWithRolesSplit(t *testing.T) {
	tw, sg, ingests, cores := startSplitEntryPoints(t)
	customers := splitCustomers(t, cores[0].view)
	sent := map[string][]string{} // entry point → provider message ids
	for round := range 2 {
		for i, c := range customers {
			g := ingests[(round+i)%2].view
			sent[c.entry] = append(sent[c.entry], postSplitWebhook(t, g, c, 100*round+i))
		}
	}
	postSplitWebhook(t, ingests[1].view, splitCustomer{"", usCustomer}, 999)
	consume(t, cores[0].view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.received") == 16 })

	convs := map[string]string{} // customer address → conversation
	for i, c := range customers {
		convs[c.address] = checkSplitInbox(t, cores[i%2].view, c, sent[c.entry])
	}
	for i, c := range customers {
		replyAs(t, cores[(i+1)%2].view, "ann-token", convs[c.address], "reply from "+c.entry)
	}
	consume(t, cores[1].view, "gateway.events.v1", func(e []topicEvent) bool { return count(e, "message.sent") == 8 })
	checkSplitSends(t, tw, sg, customers)

	time.Sleep(time.Second) // room for a record repeated to show
	checkSplitEventsOnce(t, cores[0].view, sent)
	dead := readWholeTopic(t, cores[1].view, "gateway.dlq.v1")
	if len(dead) != 1 {
		t.Fatalf("dlq.v1 holds %d records, want the unknown number's once", len(dead))
	}
	if h := dead[0].Headers; h["dlq-reason"] != "unknown_entry_point" || h["route"] != "twilio_messaging" {
		t.Errorf("dlq.v1 record headers %v", h)
	}
}

// splitCustomers waits until both core instances hold partitions of
// inbound.v1 and returns two customers per entry point, the first on a
// partition of the first instance, the second on one of the other.
func splitCustomers(t *testing.T, g *Gateway) []splitCustomer {
	t.Helper()
	owners := coreOwners(t, g)
	addresses := map[string]func(int) (channel, address string){
		"support-us": func(i int) (string, string) { return "sms", fmt.Sprintf("+1415555%04d", i) },
		"support-uk": func(i int) (string, string) { return "sms", fmt.Sprintf("+4477009%05d", i) },
		"mail-eu":    func(i int) (string, string) { return "email", fmt.Sprintf("anna%d@customer.example", i) },
		"mail-shop":  func(i int) (string, string) { return "email", fmt.Sprintf("bob%d@customer.example", i) },
	}
	var out []splitCustomer
	for _, ep := range splitInboxes {
		for member := range 2 {
			for i := 0; ; i++ {
				channel, address := addresses[ep.entry](i)
				var b kafka.Murmur2Balancer
				if owners[b.Balance(kafka.Message{Key: []byte(normalize.InboundKey(channel, address))}, 0, 1, 2, 3)] == member {
					out = append(out, splitCustomer{ep.entry, address})
					break
				}
			}
		}
	}
	return out
}

// coreOwners waits until the core consumer group is two members holding
// partitions of inbound.v1 each, and returns the member by partition.
func coreOwners(t *testing.T, g *Gateway) map[int]int {
	t.Helper()
	c := &kafka.Client{Addr: kafka.TCP(g.brokers...)}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := c.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{"gateway-core"}})
		cancel()
		if err != nil || len(res.Groups) != 1 || res.Groups[0].GroupState != "Stable" || len(res.Groups[0].Members) != 2 {
			continue
		}
		owners, held := map[int]int{}, map[int]bool{}
		for i, m := range res.Groups[0].Members {
			for _, tp := range m.MemberAssignments.Topics {
				for _, p := range tp.Partitions {
					if tp.Topic == "gateway.inbound.v1" {
						owners[p], held[i] = i, true
					}
				}
			}
		}
		if len(owners) == 4 && len(held) == 2 {
			return owners
		}
	}
	t.Fatal("the two core instances did not share the partitions of inbound.v1 within 60s")
	return nil
}

// startSplitEntryPoints starts the fake providers (each knowing both
// accounts or keys) and the roles, every process with the splitEntryPoints
// file and the fakes' URLs.
func startSplitEntryPoints(t *testing.T) (*providertest.Twilio, *providertest.SendGrid, []*childGateway, []*childGateway) {
	t.Helper()
	tw := providertest.NewTwilio(t)
	tw.AuthToken = testToken
	tw.AddAccount(ukAccount, ukAuthToken)
	sg := providertest.NewSendGrid(t)
	sg.AddKey(mailEUKey, mailEUAddress)
	sg.AddKey(providertest.SendGridAPIKey, "shop.example")
	path := entryPointsFile(t, splitEntryPoints)
	// One member of the core's group per core process (the default on
	// PostgreSQL is two), so that the group's members are the processes.
	c := newCluster(t, map[string]string{"GATEWAY_CORE_CONSUMERS": "1", "GATEWAY_ENTRY_POINTS": path, "GATEWAY_API_TOKENS": "agent:ann:ann-token",
		"TWILIO_API_URL": tw.URL, "TWILIO_ACCOUNT_SID": tw.AccountSID,
		"TWILIO_ACCOUNT_SID_UK": ukAccount, "TWILIO_AUTH_TOKEN_UK": ukAuthToken,
		"SENDGRID_API_URL": sg.URL, "SENDGRID_API_KEY": providertest.SendGridAPIKey,
		"SENDGRID_INBOUND_USER": mailSharedUser, "SENDGRID_INBOUND_PASSWORD": mailSharedPassword,
		"SENDGRID_API_KEY_EU": mailEUKey, "SENDGRID_INBOUND_USER_EU": mailEUUser, "SENDGRID_INBOUND_PASSWORD_EU": mailEUPassword})
	cores := []*childGateway{c.start(t, "core", nil), c.start(t, "core", nil)}
	c.start(t, "outbox", nil)
	var ingests []*childGateway
	for _, core := range cores {
		ingests = append(ingests, c.start(t, "ingest", map[string]string{"GATEWAY_CORE_URL": "http://" + core.view.Addr()}))
	}
	return tw, sg, ingests, cores
}

// postSplitWebhook sends message n of customer c to its entry point
// ("": a number no entry point has) on its route, signed with its
// credentials, requires 200 and returns its provider message id.
func postSplitWebhook(t *testing.T, g *Gateway, c splitCustomer, n int) string {
	t.Helper()
	twilioHook := func(path, token, business string) string {
		sid := fmt.Sprintf("SM%032d", n)
		form := smsForm(sid, c.address, fmt.Sprintf("message %d to %s", n, business))
		form.Set("To", business)
		sig := twilio.Sign(token, testPublic+path, form)
		if s, b := postTwilio(t, g, path, form, &sig); s != http.StatusOK {
			t.Fatalf("webhook %d to %q: %d %s", n, c.entry, s, b)
		}
		return sid
	}
	mailHook := func(path, user, pass, to string) string {
		id := fmt.Sprintf("m%d.%s@customer.example", n, c.entry)
		body, ct := mailFormWithID(t, c.address, to, id)
		hdr := map[string]string{"Content-Type": ct, "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
		if s, b := post(t, g, path, body, hdr); s != http.StatusOK {
			t.Fatalf("webhook %d to %q: %d %s", n, c.entry, s, b)
		}
		return id
	}
	switch c.entry {
	case "support-us":
		return twilioHook(twilio.MessagingPath, testToken, usBusiness)
	case "support-uk":
		return twilioHook(twilio.MessagingPath+"/support-uk", ukAuthToken, ukBusiness)
	case "mail-eu":
		return mailHook(sendgrid.InboundPath+"/mail-eu", mailEUUser, mailEUPassword, mailEUAddress)
	case "mail-shop":
		return mailHook(sendgrid.InboundPath, mailSharedUser, mailSharedPassword, mailShopAddress)
	}
	return twilioHook(twilio.MessagingPath, testToken, unknownBusiness)
}

// checkSplitInbox requires one conversation of customer c, at its entry
// point and in its inbox, holding each of its messages once (of ids, the
// entry point's), and returns its id.
func checkSplitInbox(t *testing.T, g *Gateway, c splitCustomer, ids []string) string {
	t.Helper()
	inbox := ""
	for _, ep := range splitInboxes {
		if ep.entry == c.entry {
			inbox = ep.inbox
		}
	}
	var page struct{ Data []core.Conversation }
	getAs(t, g, "ann-token", "/v1/conversations?entry_point="+c.entry, &page)
	var conv *core.Conversation
	for i, cv := range page.Data {
		var msgs struct{ Data []core.StoredMessage }
		getAs(t, g, "ann-token", "/v1/conversations/"+cv.ID+"/messages", &msgs)
		if len(msgs.Data) == 0 || msgs.Data[0].Message.From.Address != c.address {
			continue
		}
		conv = &page.Data[i]
		if cv.Inbox != inbox || cv.EntryPoint != c.entry {
			t.Errorf("%s: conversation %s in inbox %q at %q, want inbox %s at %s", c.address, cv.ID, cv.Inbox, cv.EntryPoint, inbox, c.entry)
		}
		checkStoredOnce(t, c, msgs.Data, ids)
	}
	if len(page.Data) != 2 || conv == nil {
		t.Fatalf("?entry_point=%s: %d conversations, none of %s; want one per customer", c.entry, len(page.Data), c.address)
	}
	return conv.ID
}

// checkStoredOnce requires the messages of customer c's conversation to be
// its two, each once.
func checkStoredOnce(t *testing.T, c splitCustomer, msgs []core.StoredMessage, ids []string) {
	t.Helper()
	stored := map[string]int{}
	for _, m := range msgs {
		stored[m.Message.ProviderMessageID]++
	}
	mine := 0
	for _, id := range ids {
		mine += stored[id]
		if stored[id] > 1 {
			t.Errorf("%s: message %s stored %d times, want once", c.address, id, stored[id])
		}
	}
	if mine != 2 || len(msgs) != 2 {
		t.Errorf("%s: %d messages stored (%v), want its 2", c.address, len(msgs), stored)
	}
}

// checkSplitSends requires each reply at the fakes once, from its entry
// point's number or address, under its account or with its API key.
func checkSplitSends(t *testing.T, tw *providertest.Twilio, sg *providertest.SendGrid, customers []splitCustomer) {
	t.Helper()
	entryOf := map[string]string{}
	for _, c := range customers {
		entryOf[c.address] = c.entry
	}
	texts := tw.Messages()
	if len(texts) != 4 {
		t.Errorf("Twilio took %d messages, want the 4 replies: %+v", len(texts), texts)
	}
	for _, m := range texts {
		want := map[string][2]string{"support-us": {usBusiness, tw.AccountSID}, "support-uk": {ukBusiness, ukAccount}}[entryOf[m.To]]
		if m.From != want[0] || m.AccountSID != want[1] || m.Body != "reply from "+entryOf[m.To] {
			t.Errorf("reply to %s: from %s under %s (%q), want from %s under %s", m.To, m.From, m.AccountSID, m.Body, want[0], want[1])
		}
	}
	mails := sg.Mails()
	if len(mails) != 4 {
		t.Errorf("SendGrid took %d mails, want the 4 replies", len(mails))
	}
	for _, m := range mails {
		want := map[string][2]string{"mail-eu": {mailEUAddress, mailEUKey}, "mail-shop": {mailShopAddress, providertest.SendGridAPIKey}}[entryOf[mailTo(m)]]
		if mailFrom(m) != want[0] || m.APIKey != want[1] {
			t.Errorf("reply to %s: from %s with %q, want from %s with %q", mailTo(m), mailFrom(m), m.APIKey, want[0], want[1])
		}
	}
}

// checkSplitEventsOnce reads the whole of events.v1: no record repeats an
// event, every message sent is received once, and the eight conversations
// and replies are there once each.
func checkSplitEventsOnce(t *testing.T, g *Gateway, sent map[string][]string) {
	t.Helper()
	evs := readWholeTopic(t, g, "gateway.events.v1")
	ids, received := map[string]bool{}, map[string]int{}
	for _, e := range evs {
		if ids[e.Event.ID] {
			t.Errorf("event %s (%s) twice on events.v1", e.Event.ID, e.Event.Type)
		}
		ids[e.Event.ID] = true
		if e.Event.Type == "message.received" {
			msg, _ := e.Data["message"].(map[string]any)
			pid, _ := msg["provider_message_id"].(string)
			received[pid]++
		}
	}
	want := 0
	for entry, list := range sent {
		for _, id := range list {
			want++
			if received[id] != 1 {
				t.Errorf("%s: message %s received %d times on events.v1, want once", entry, id, received[id])
			}
		}
	}
	if len(received) != want {
		t.Errorf("message.received for %d messages, want %d: %v", len(received), want, received)
	}
	for typ, n := range map[string]int{"conversation.created": 8, "message.sent": 8, "message.queued": 8} {
		if got := count(evs, typ); got != n {
			t.Errorf("%d %s on events.v1, want %d", got, typ, n)
		}
	}
}

// readWholeTopic reads every record topic holds now, each partition to its
// end.
func readWholeTopic(t *testing.T, g *Gateway, topic string) []topicEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(g.brokers...)}
	n, err := kafkabus.PartitionCount(ctx, c, topic)
	if err != nil {
		t.Fatal(err)
	}
	var reqs []kafka.OffsetRequest
	for p := range n {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	res, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, po := range res.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("offsets of %s/%d: %v", topic, po.Partition, po.Error)
		}
		total += po.LastOffset - po.FirstOffset
	}
	return consume(t, g, topic, func(e []topicEvent) bool { return int64(len(e)) >= total })
}
