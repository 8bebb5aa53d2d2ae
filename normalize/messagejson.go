package normalize

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// AppendJSON appends the message as JSON to dst: the bytes json.Marshal
// writes, without its reflection (every webhook encodes one message). The
// fields that are rare on the webhook path (thread, call, sender_verified,
// an extra value that is not a string) and a time RFC 3339 cannot say go
// through encoding/json, which then also says what is wrong.
// TestMessageAppendJSONMatchesMarshal holds the two to the same bytes and
// fails when a field is added to Message, Party or Attachment that
// AppendJSON does not write.
func (m *Message) AppendJSON(dst []byte) ([]byte, error) {
	if y := m.ReceivedAt.Year(); y < 0 || y > 9999 {
		b, err := json.Marshal(m)
		return append(dst, b...), err
	}
	var err error
	dst = append(dst, `{"message_id":`...)
	dst, err = appendString(dst, m.MessageID, err)
	dst = append(dst, `,"channel":`...)
	dst, err = appendString(dst, m.Channel, err)
	dst = append(dst, `,"provider":`...)
	dst, err = appendString(dst, m.Provider, err)
	dst, err = appendOmitEmpty(dst, `,"provider_message_id":`, m.ProviderMessageID, err)
	dst = append(dst, `,"direction":`...)
	dst, err = appendString(dst, m.Direction, err)
	dst = append(dst, `,"from":`...)
	dst, err = m.From.appendJSON(dst, err)
	dst = append(dst, `,"to":`...)
	dst, err = m.To.appendJSON(dst, err)
	dst, err = appendOmitEmpty(dst, `,"text":`, m.Text, err)
	dst, err = appendOmitEmpty(dst, `,"subject":`, m.Subject, err)
	dst, err = appendOmitEmpty(dst, `,"html":`, m.HTML, err)
	if m.Thread != nil {
		dst = append(dst, `,"thread":`...)
		dst, err = appendMarshal(dst, m.Thread, err)
	}
	if len(m.Attachments) > 0 {
		dst = append(dst, `,"attachments":[`...)
		for i := range m.Attachments {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst, err = m.Attachments[i].appendJSON(dst, err)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"received_at":"`...)
	dst = m.ReceivedAt.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if m.Echo {
		dst = append(dst, `,"echo":true`...)
	}
	if m.SenderVerified != nil {
		dst = append(dst, `,"sender_verified":`...)
		dst = strconv.AppendBool(dst, *m.SenderVerified)
	}
	if len(m.Extra) > 0 {
		dst = append(dst, `,"extra":`...)
		dst, err = appendExtra(dst, m.Extra, err)
	}
	dst, err = appendOmitEmpty(dst, `,"kind":`, m.Kind, err)
	if m.Call != nil {
		dst = append(dst, `,"call":`...)
		dst, err = appendMarshal(dst, m.Call, err)
	}
	dst, err = appendOmitEmpty(dst, `,"entry_point":`, m.EntryPoint, err)
	return append(dst, '}'), err
}

func (p *Party) appendJSON(dst []byte, err error) ([]byte, error) {
	dst = append(dst, `{"kind":`...)
	dst, err = appendString(dst, p.Kind, err)
	dst = append(dst, `,"address":`...)
	dst, err = appendString(dst, p.Address, err)
	dst, err = appendOmitEmpty(dst, `,"name":`, p.Name, err)
	return append(dst, '}'), err
}

func (a *Attachment) appendJSON(dst []byte, err error) ([]byte, error) {
	dst = append(dst, `{"url":`...)
	dst, err = appendString(dst, a.URL, err)
	dst, err = appendOmitEmpty(dst, `,"content_type":`, a.ContentType, err)
	dst, err = appendOmitEmpty(dst, `,"filename":`, a.Filename, err)
	if a.Size != 0 {
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, a.Size, 10)
	}
	dst, err = appendOmitEmpty(dst, `,"status":`, a.Status, err)
	dst, err = appendOmitEmpty(dst, `,"error":`, a.Error, err)
	dst, err = appendOmitEmpty(dst, `,"provider_ref":`, a.ProviderRef, err)
	return append(dst, '}'), err
}

// appendOmitEmpty appends a string field tagged omitempty: its name (with
// the comma before it) and value, or nothing when it is empty.
func appendOmitEmpty(dst []byte, name, s string, err error) ([]byte, error) {
	if s == "" {
		return dst, err
	}
	return appendString(append(dst, name...), s, err)
}

// appendMarshal appends v as json.Marshal writes it.
func appendMarshal(dst []byte, v any, err error) ([]byte, error) {
	b, merr := json.Marshal(v)
	if err == nil {
		err = merr
	}
	return append(dst, b...), err
}

// appendExtra appends a message's extra map as json.Marshal writes it:
// keys in byte order; a map holding anything but strings goes through
// encoding/json whole.
func appendExtra(dst []byte, extra map[string]any, err error) ([]byte, error) {
	var buf [32]string
	keys := buf[:0]
	for k, v := range extra {
		if _, ok := v.(string); !ok {
			return appendMarshal(dst, extra, err)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst, err = appendString(dst, k, err)
		dst = append(dst, ':')
		dst, err = appendString(dst, extra[k].(string), err)
	}
	return append(dst, '}'), err
}
