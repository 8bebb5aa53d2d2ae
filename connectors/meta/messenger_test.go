package meta

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

func TestMessenger(t *testing.T) {
	const (
		psid = "5275811702471834"
		page = "106378625516323"
	)
	getStarted := derivedID("postback", "5678", "1459991487970", "get_started")
	cases := []hookCase{
		{Label: "vector text", File: "meta_messenger_text.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"hello, world!"}, ExpectedFrom: []string{psid},
			ExpectedExternalIDs: []string{"m_qr6GPBlzTU4jqP0PBqaIoIAcfn2p3T7uiO5jm0L_PMTKMJhEIUGFkEKQBhGkpCnPXVZNsYdkN7A2Sel0dOz_Iw"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				m := msgs[0]
				if m.Channel != "messenger" || m.Provider != ProviderMessenger || m.From.Kind != normalize.KindMessenger ||
					m.To != (normalize.Party{Kind: normalize.KindMessenger, Address: page}) || m.Direction != "inbound" {
					t.Errorf("message %+v", m)
				}
				if !m.ReceivedAt.Equal(time.UnixMilli(1458692752478)) {
					t.Errorf("received_at %v, want the event timestamp (ms)", m.ReceivedAt)
				}
			}},
		{Label: "quick reply", File: "fb_text_quick_reply.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"hello, world!"},
			ExpectedFrom: []string{psid}, ExpectedExternalIDs: []string{"mid.1457764197618:41d102a3e1ae206a38"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].Extra["payload"] != "DEVELOPER_DEFINED_PAYLOAD" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "reply to", File: "fb_reply_to.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"hello, world!"},
			ExpectedFrom: []string{psid}, ExpectedExternalIDs: []string{"m_1457764197618:41d102a3e1ae206a38"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if r, _ := msgs[0].Extra["reply_to"].(map[string]any); r["mid"] != "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "image attachment", File: "fb_attachment.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{psid}, ExpectedExternalIDs: []string{"mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				const u = "https://scontent.xx.fbcdn.net/v/t1.15752-9/foo.png" // sent with \/ escapes
				if a := msgs[0].Attachments; len(a) != 1 || a[0].URL != u || a[0].ProviderRef != u {
					t.Errorf("attachments %+v", a)
				}
				if msgs[0].To.Address != "682498302938465" {
					t.Errorf("to %+v", msgs[0].To)
				}
			}},
		{Label: "location attachment", File: "fb_location_attachment.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if a, _ := msgs[0].Extra["attachments"].([]any); len(a) != 1 || len(msgs[0].Attachments) != 0 {
					t.Errorf("extra %v attachments %v", msgs[0].Extra, msgs[0].Attachments)
				}
			}},
		{Label: "delivery", File: "fb_delivery.json", ExpectedTypes: []string{status},
			ExpectedExternalIDs: []string{"mid.1458668856218:ed81099e15d3f4f233"},
			Check: func(t *testing.T, _ []normalize.Message, sts []normalize.Status) {
				s := sts[0]
				if s.Status != "delivered" || s.Recipient == nil || s.Recipient.Address != psid || !s.At.Equal(time.UnixMilli(1458668856253)) {
					t.Errorf("status %+v: no timestamp, so the watermark is the time", s)
				}
			}},
		{Label: "read watermark", File: "fb_read.json", ExpectedTypes: []string{status},
			ExpectedExternalIDs: []string{"watermark:" + psid + ":1458668856253"},
			Check: func(t *testing.T, _ []normalize.Message, sts []normalize.Status) {
				s := sts[0]
				if s.Status != "read" || !s.At.Equal(time.UnixMilli(1458668856253)) || s.Recipient.Address != psid {
					t.Errorf("status %+v", s)
				}
			}},
		{Label: "echo of the page's message", File: "fb_echo.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"We ship in three days."}, ExpectedFrom: []string{page}, ExpectedExternalIDs: []string{"mid.1457764197618:41d102a3e1ae206a38"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				m := msgs[0]
				if m.Direction != normalize.Outbound || !m.Echo || m.To.Address != psid || m.Extra["app_id"] != "1517776481860111" {
					t.Errorf("message %+v", m)
				}
			}},
		{Label: "standby echo of a template", File: "fb_standby_echo.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{page}, ExpectedExternalIDs: []string{"qT7ywaKpO9kkQR7GfqNLGl9kZJFxn3dWeunBxWcWpKPVn_sW0jO0VlhO6K_dZzXd0sKwIfIKbQe2NCxhxkV_6A"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				m := msgs[0]
				if !m.Echo || m.Extra["standby"] != true || len(m.Attachments) != 0 || m.Extra["attachments"] == nil {
					t.Errorf("message %+v: a template is no file", m)
				}
			}},
		{Label: "postback with referral", File: "fb_postback.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"postback title"},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{derivedID("postback", "5678", "1459991487970", "postback payload")},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				r, _ := msgs[0].Extra["referral"].(map[string]any)
				if msgs[0].Extra["payload"] != "postback payload" || r["ref"] != "postback ref" || msgs[0].Extra["type"] != "postback" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "get started", File: "fb_postback_get_started.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"postback title"},
			ExpectedKinds: []string{normalize.MessageKindGetStarted},
			ExpectedFrom:  []string{"5678"}, ExpectedExternalIDs: []string{getStarted}},
		{Label: "postback with mid", File: "fb_postback_mid.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Get Started"},
			ExpectedKinds: []string{normalize.MessageKindGetStarted},
			ExpectedFrom:  []string{psid}, ExpectedExternalIDs: []string{"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}},
		{Label: "referral", File: "fb_referral.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""}, ExpectedFrom: []string{"5678"},
			ExpectedKinds:       []string{normalize.MessageKindReferral},
			ExpectedExternalIDs: []string{derivedID("referral", "5678", "1459991487970", `{"ref":"referral id","ad_id":"ad id","source":"referral source","type":"referral type"}`)},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if r, _ := msgs[0].Extra["referral"].(map[string]any); r["ad_id"] != "ad id" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "reaction", File: "fb_reaction.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""}, ExpectedFrom: []string{psid},
			ExpectedKinds:       []string{normalize.MessageKindReaction},
			ExpectedExternalIDs: []string{derivedID("reaction", psid, "1458668856463", `{"reaction":"love","emoji":"\u2764\ufe0f","action":"react","mid":"m_qr6GPBlzTU4jqP0PBqaIoIAcfn2p3T7uiO5jm0L_PMTKMJhEIUGFkEKQBhGkpCnPXVZNsYdkN7A2Sel0dOz_Iw"}`)}},
		{Label: "batch", File: "fb_batch.json", ExpectedTypes: []string{received, received, status, status},
			ExpectedTexts: []string{"Hello World", ""}, ExpectedFrom: []string{psid, psid},
			ExpectedExternalIDs: []string{"external_id", "external_id_2", "mid.1458668856218:ed81099e15d3f4f233", "mid.1458668856218:ed81099e15d3f4f234"},
			ExpectedIgnored:     2, // the optin, the feed change
			Check: func(t *testing.T, msgs []normalize.Message, sts []normalize.Status) {
				if a := msgs[1].Attachments; len(a) != 1 || a[0].URL != "https://image-url/foo.png" {
					t.Errorf("attachments %+v", a)
				}
				if !sts[0].At.Equal(time.UnixMilli(1459991487970)) {
					t.Errorf("delivery at %v, want the event timestamp", sts[0].At)
				}
			}},
		{Label: "delivery without mids", Data: `{"object":"page","entry":[{"id":"` + page + `","messaging":[{"sender":{"id":"` + psid + `"},"recipient":{"id":"` + page + `"},"delivery":{"watermark":1458668856253}}]}]}`,
			ExpectedTypes: []string{status}, ExpectedExternalIDs: []string{"watermark:" + psid + ":1458668856253"}},
		{Label: "dashboard test notification", Data: `{"object":"page","entry":[{"id":"0","time":1527459824,"changes":[{"field":"messaging_postbacks","value":{"sender":{"user_ref":"USER-REF-ID"},"recipient":{"id":"PAGE-ID"},"timestamp":"1527459824","postback":{"mid":"m_MESSAGE-ID","title":"TITLE-FOR-THE-CTA","payload":"USER-DEFINED-PAYLOAD","referral":{"ref":"USER-DEFINED-REFERRAL-PARAM","source":"SHORT-URL","type":"OPEN_THREAD"}}}}]}]}`,
			ExpectedTypes: []string{received}, ExpectedTexts: []string{"TITLE-FOR-THE-CTA"}, ExpectedFrom: []string{"USER-REF-ID"}, ExpectedExternalIDs: []string{"m_MESSAGE-ID"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].Extra["user_ref"] != true || msgs[0].ReceivedAt.Unix() != 1527459824 {
					t.Errorf("message %+v", msgs[0])
				}
			}},
		{Label: "instagram text", File: "ig_text.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Hello World"},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				m := msgs[0]
				if m.Channel != "instagram" || m.Provider != ProviderInstagram || m.From.Kind != normalize.KindInstagram || m.To.Kind != normalize.KindInstagram {
					t.Errorf("message %+v", m)
				}
			}},
		{Label: "instagram story mention", File: "ig_story_mention.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if a := msgs[0].Attachments; len(a) != 1 || a[0].URL != "https://story-url" {
					t.Errorf("attachments %+v", a)
				}
			}},
		{Label: "instagram like heart", File: "ig_like_heart.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				a, _ := msgs[0].Extra["attachments"].([]any)
				if len(a) != 1 || !strings.Contains(mustJSON(t, a), "like_heart") {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "instagram unsent message is ignored", File: "ig_unsent.json", ExpectedIgnored: 1},
		{Label: "instagram ice breaker", File: "ig_icebreaker_get_started.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"icebreaker question"},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{getStarted}},
		{Label: "instagram echo", File: "ig_echo.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Thanks, we will check."},
			ExpectedFrom: []string{"1234567890"}, ExpectedExternalIDs: []string{"qT7ywaK"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if m := msgs[0]; !m.Echo || m.Direction != normalize.Outbound || m.Contact().Address != "5678" {
					t.Errorf("message %+v", m)
				}
			}},
		{Label: "instagram read with mid", Data: `{"object":"instagram","entry":[{"id":"1234567890","time":1459991487970,"messaging":[{"sender":{"id":"5678"},"recipient":{"id":"1234567890"},"timestamp":1459991487970,"read":{"mid":"aWdfZAG1"}}]}]}`,
			ExpectedTypes: []string{status}, ExpectedExternalIDs: []string{"aWdfZAG1"}},
		{Label: "entry without messaging", Data: `{"object":"page","entry":[{"id":"1","time":1}]}`, ExpectedIgnored: 1},
		{Label: "event without sender", Data: `{"object":"page","entry":[{"id":"1","messaging":[{"recipient":{"id":"1"},"message":{"mid":"m","text":"x"}}]}]}`, ExpectedIgnored: 1},
		{Label: "unsigned", File: "meta_messenger_text.json", Signature: "missing", ExpectedErr: webhook.ErrSignature},
		{Label: "bad signature", File: "meta_messenger_text.json", Signature: "invalid", ExpectedErr: webhook.ErrSignature},
		{Label: "whatsapp payload on the messenger route", File: "meta_wa_text_compact.json", ExpectedErr: webhook.ErrMalformed},
		{Label: "unknown object", Data: `{"object":"permissions","entry":[]}`, ExpectedErr: webhook.ErrMalformed},
		{Label: "array envelope", Data: `[{"object":"instagram","entry":[]}]`, ExpectedErr: webhook.ErrMalformed},
		{Label: "invalid JSON", Data: `{"object":"page","entry":[{"messaging":[`, ExpectedErr: webhook.ErrMalformed},
	}
	runHookCases(t, Messenger{AppSecret: secret, VerifyToken: verifyToken}, cases)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
