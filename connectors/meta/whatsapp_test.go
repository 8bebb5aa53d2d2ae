package meta

import (
	"testing"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/normalize"
)

const (
	received = normalize.TypeMessageReceived
	status   = normalize.TypeMessageStatus
)

func TestWhatsApp(t *testing.T) {
	cases := []hookCase{
		{Label: "docs text, pretty", File: "meta_wa_text_pretty.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"Does it come in another color?"}, ExpectedFrom: []string{"+16505551234"},
			ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				m := msgs[0]
				if m.From != (normalize.Party{Kind: "phone", Address: "+16505551234", Name: "Sheena Nelson"}) {
					t.Errorf("from %+v", m.From)
				}
				if m.To != (normalize.Party{Kind: "phone", Address: "+15550783881"}) || m.Extra["phone_number_id"] != "106540352242922" {
					t.Errorf("to %+v, extra %v", m.To, m.Extra)
				}
				if m.Channel != "whatsapp" || m.Provider != ProviderWhatsApp || m.Direction != "inbound" {
					t.Errorf("channel %q provider %q direction %q", m.Channel, m.Provider, m.Direction)
				}
				if m.ReceivedAt.Unix() != 1749416383 {
					t.Errorf("received_at %v, want the message timestamp", m.ReceivedAt)
				}
			}},
		{Label: "docs text, compact", File: "meta_wa_text_compact.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"Does it come in another color?"}, ExpectedFrom: []string{"+16505551234"},
			ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="}},
		{Label: "escaped unicode", File: "meta_wa_unicode_escaped.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"Grüße äöå"}, ExpectedFrom: []string{"+4915112345678"},
			ExpectedExternalIDs: []string{"wamid.HBgNNDkxNTExMjM0NTY3OBUCABIYFjNFQjBDMEYyQUE5QjQzNEYxNjQ5RTgA"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].From.Name != "Jürgen Müller" {
					t.Errorf("name %q", msgs[0].From.Name)
				}
			}},
		{Label: "image with caption", File: "wa_image.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"Check out my new phone!"}, ExpectedFrom: []string{"+16505551234"},
			ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzQUE3RjE3NkQ2RjE5Q0E0OEQ3RgA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				want := []normalize.Attachment{{ContentType: "image/jpeg", Status: "pending", ProviderRef: "id_image"}}
				if len(msgs[0].Attachments) != 1 || msgs[0].Attachments[0] != want[0] {
					t.Errorf("attachments %+v, want %+v", msgs[0].Attachments, want)
				}
			}},
		{Label: "document keeps its filename", File: "wa_document.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"80skaraokesonglistartist"}, ExpectedFrom: []string{"+250788123123"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				a := msgs[0].Attachments
				if len(a) != 1 || a[0].Filename != "80skaraokesonglistartist.pdf" || a[0].ProviderRef != "id_document" || a[0].ContentType != "application/pdf" {
					t.Errorf("attachments %+v", a)
				}
				if msgs[0].To.Address != "+250788123200" {
					t.Errorf("business %q: the display number is made E.164", msgs[0].To.Address)
				}
			}},
		{Label: "voice note", File: "wa_voice.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"+250788123123"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if a := msgs[0].Attachments; len(a) != 1 || a[0].ContentType != "audio/ogg; codecs=opus" || msgs[0].Extra["voice"] != true {
					t.Errorf("attachments %+v extra %v", a, msgs[0].Extra)
				}
			}},
		// courier's fixture has the placeholder wa_id 5678, which is no phone
		// number: kept as given, with the whatsapp kind.
		{Label: "sticker from a placeholder id", File: "wa_sticker.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"5678"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].From.Kind != normalize.KindWhatsApp || msgs[0].From.Name != "Kerry Fisher" || len(msgs[0].Attachments) != 1 {
					t.Errorf("from %+v attachments %+v", msgs[0].From, msgs[0].Attachments)
				}
			}},
		{Label: "location", File: "wa_location.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwMUM4QjFBN0Q2QjM5QUQ0MQA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				loc, _ := msgs[0].Extra["location"].(map[string]any)
				if loc["name"] != "Main Street Beach" || loc["latitude"] == nil || loc["longitude"] == nil || msgs[0].Extra["type"] != "location" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "shared contact", File: "wa_contacts.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwMkY5NDk0OUY5QTQ1QTk0NgA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if c, _ := msgs[0].Extra["contacts"].([]any); len(c) != 1 {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "reply button", File: "wa_interactive_button_reply.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Yes"},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwQjI0MEJFMDVFQTA3NDk3OQA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				ctx, _ := msgs[0].Extra["context"].(map[string]any)
				if msgs[0].Extra["payload"] != "id_button_reply" || ctx["id"] != "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "list reply", File: "wa_interactive_list_reply.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Yes"},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwRDNBMDk2RkQ0QzI4QjlCMAA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].Extra["payload"] != "id_list_reply" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "flow reply", File: "wa_nfm_reply.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Sent"},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwNkU5RjBDMEVGRjIxQUM3NgA="}},
		{Label: "template quick reply", File: "wa_button.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"No"},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwRjQ2OUFGMTlFNkZFNUI2QQA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].Extra["payload"] != "No-Button-Payload" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "echo of a message sent from the WhatsApp Business app", File: "wa_smb_echo.json", ExpectedTypes: []string{received},
			ExpectedTexts: []string{"Sure, it ships tomorrow."}, ExpectedFrom: []string{"+15550783881"},
			ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBJFQ0hPRUNIT0VDSE9FQ0hPAA=="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if m := msgs[0]; m.Direction != normalize.Outbound || !m.Echo || m.Contact().Address != "+16505551234" || m.Extra["origin"] != "whatsapp_business_app" {
					t.Errorf("message %+v", m)
				}
			}},
		{Label: "reaction", File: "wa_reaction.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedKinds: []string{normalize.MessageKindReaction},
			ExpectedFrom:  []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwQTc5RTZFNjc1MjI3M0UxNgA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				r, _ := msgs[0].Extra["reaction"].(map[string]any)
				if r["emoji"] != "👍" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "system notice: the user changed their number", Data: `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550783881","phone_number_id":"1"},"messages":[{"from":"16505551234","id":"wamid.SYS","timestamp":"1749416383","type":"system","system":{"body":"User A changed from 16505551234 to 16505550000","wa_id":"16505550000","type":"user_changed_number"}}]}}]}]}`,
			ExpectedTypes: []string{received}, ExpectedTexts: []string{""}, ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.SYS"},
			ExpectedKinds: []string{normalize.MessageKindSystem}},
		{Label: "chat opened for the first time", Data: `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550783881","phone_number_id":"1"},"contacts":[{"profile":{"name":"Kerry"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.WELCOME","timestamp":"1749416383","type":"request_welcome"}]}}]}]}`,
			ExpectedTypes: []string{received}, ExpectedTexts: []string{""}, ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.WELCOME"},
			ExpectedKinds: []string{normalize.MessageKindGetStarted}},
		{Label: "unsupported type", File: "wa_unsupported.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{""},
			ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQzRUIwNTg2QjNGNzQxRDcyMjg5MgA="},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if errs, _ := msgs[0].Extra["errors"].([]any); msgs[0].Extra["type"] != "unsupported" || len(errs) != 1 {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "type not known yet", Data: `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550783881","phone_number_id":"1"},"messages":[{"from":"16505551234","id":"wamid.X","timestamp":"1749416383","type":"hologram","hologram":{"id":"h1"}}]}}]}]}`,
			ExpectedTypes: []string{received}, ExpectedTexts: []string{""}, ExpectedFrom: []string{"+16505551234"}, ExpectedExternalIDs: []string{"wamid.X"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if h, _ := msgs[0].Extra["hologram"].(map[string]any); msgs[0].Extra["type"] != "hologram" || h["id"] != "h1" {
					t.Errorf("extra %v", msgs[0].Extra)
				}
			}},
		{Label: "business-scoped user id only", File: "wa_bsuid.json", ExpectedTypes: []string{received}, ExpectedTexts: []string{"Hello World"},
			ExpectedFrom: []string{"US.1234"}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, msgs []normalize.Message, _ []normalize.Status) {
				if msgs[0].From != (normalize.Party{Kind: normalize.KindWhatsApp, Address: "US.1234", Name: "Kerry Fisher"}) {
					t.Errorf("from %+v", msgs[0].From)
				}
			}},
		{Label: "status sent", File: "wa_status_sent.json", ExpectedTypes: []string{status}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, _ []normalize.Message, sts []normalize.Status) {
				if sts[0].Status != "sent" || sts[0].At.Unix() != 1454119029 || sts[0].Channel != "whatsapp" {
					t.Errorf("status %+v", sts[0])
				}
			}},
		{Label: "status failed with code", File: "wa_status_error.json", ExpectedTypes: []string{status}, ExpectedExternalIDs: []string{"external_id"},
			Check: func(t *testing.T, _ []normalize.Message, sts []normalize.Status) {
				s := sts[0]
				if s.Status != "failed" || s.ErrorCode != "131014" || s.ErrorMessage != "Request for url https://URL.jpg failed with error: 404 (Not Found)" ||
					s.Recipient == nil || s.Recipient.Address != "+250788123123" {
					t.Errorf("status %+v", s)
				}
			}},
		{Label: "status failed outside 24h window", File: "wa_status_failed_24h.json", ExpectedTypes: []string{status},
			ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"},
			Check: func(t *testing.T, _ []normalize.Message, sts []normalize.Status) {
				s := sts[0]
				if s.ErrorCode != "131047" || s.ErrorMessage != "Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number." {
					t.Errorf("status %+v", s)
				}
			}},
		{Label: "batch of messages and statuses", File: "wa_batch.json",
			ExpectedTypes:       []string{received, received, status, status},
			ExpectedTexts:       []string{"Does it come in another color?", "the scratch"},
			ExpectedFrom:        []string{"+16505551234", "+250788123123"},
			ExpectedExternalIDs: []string{"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "wamid.HBgMMjUwNzg4MTIzMTIzFQIAEhgUM0E5QkM0RjA3RkJGNDg0QkIzNDUA", "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"},
			ExpectedIgnored:     2, // the deleted status, the account_update change
			Check: func(t *testing.T, msgs []normalize.Message, sts []normalize.Status) {
				if msgs[0].From.Name != "Sheena Nelson" || msgs[1].From.Name != "Kerry Fisher" {
					t.Errorf("names %q %q: each sender gets their own profile", msgs[0].From.Name, msgs[1].From.Name)
				}
				if sts[0].Status != "delivered" || sts[1].Status != "read" {
					t.Errorf("statuses %q %q", sts[0].Status, sts[1].Status)
				}
			}},
		{Label: "template status update is ignored", File: "wa_template_status_update.json", ExpectedIgnored: 1},
		{Label: "message without id is ignored", Data: `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"metadata":{"display_phone_number":"15550783881"},"messages":[{"from":"16505551234","type":"text","text":{"body":"hi"}}]}}]}]}`,
			ExpectedIgnored: 1},
		{Label: "value of the wrong shape is ignored", Data: `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":[1,2]}]}]}`,
			ExpectedIgnored: 1},
		{Label: "empty entry list", Data: `{"object":"whatsapp_business_account","entry":[]}`},
		{Label: "unsigned", File: "meta_wa_text_compact.json", Signature: "missing", ExpectedErr: webhook.ErrSignature},
		{Label: "bad signature", File: "meta_wa_text_compact.json", Signature: "invalid", ExpectedErr: webhook.ErrSignature},
		{Label: "messenger payload on the whatsapp route", File: "meta_messenger_text.json", ExpectedErr: webhook.ErrMalformed},
		{Label: "unknown object", Data: `{"object":"user","entry":[]}`, ExpectedErr: webhook.ErrMalformed},
		{Label: "no object", Data: `{"entry":[]}`, ExpectedErr: webhook.ErrMalformed},
		{Label: "invalid JSON", Data: `{"object":"whatsapp_business_account",`, ExpectedErr: webhook.ErrMalformed},
		{Label: "entry not a list", Data: `{"object":"whatsapp_business_account","entry":{}}`, ExpectedErr: webhook.ErrMalformed},
		{Label: "empty body", Data: ``, ExpectedErr: webhook.ErrMalformed},
	}
	runHookCases(t, WhatsApp{AppSecret: secret, VerifyToken: verifyToken}, cases)
}
