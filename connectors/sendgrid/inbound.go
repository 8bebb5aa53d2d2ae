package sendgrid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"regexp"
	"strings"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/opengateway/gateway/connectors/webhook"
	"github.com/opengateway/gateway/core/media"
	"github.com/opengateway/gateway/normalize"
)

// Challenge is the WWW-Authenticate answer to a request without valid credentials.
const Challenge = `Basic realm="gateway inbound parse"`

// Limits of one inbound email.
const (
	maxAttachments = 20
	maxFieldBytes  = 8 << 20
)

// File is an attachment's bytes as received.
type File struct {
	Name, ContentType string
	Data              []byte
}

// Inbound handles POST /webhooks/sendgrid/inbound, and
// /webhooks/sendgrid/inbound/{id} for an entry point with inbound
// credentials of its own (User and Password are then that entry point's).
// SendGrid sends the credentials set in the Inbound Parse URL
// (https://user:pass@host/...) as HTTP basic auth.
type Inbound struct {
	User, Password string
	Media          MediaStore
	// EntryPoints finds the entry point of each email; nil names none (the
	// core derives it).
	EntryPoints *EntryPoints
	// EntryPoint is the id of the entry point whose route this is, "" on
	// the shared route.
	EntryPoint string
}

var (
	_ webhook.Handler          = Inbound{}
	_ webhook.HeaderAuthorizer = Inbound{}
)

// Handle checks basic auth, parses the email and stores its attachments.
func (h Inbound) Handle(ctx context.Context, r *webhook.Request) (webhook.Result, error) {
	if err := h.Authorize(r.Header); err != nil {
		return webhook.Result{}, err
	}
	return h.parse(ctx, r)
}

// Replay parses an email kept on raw.v1 (its credentials were checked when
// it was accepted) and stores its attachments again, under the same keys as
// the webhook did (media.FileKey), so that replaying it keeps one copy. It
// finds the entry point by the route the email came in on, or its
// recipient.
func (h Inbound) Replay(ctx context.Context, r *webhook.Request) (webhook.Result, error) {
	if h.EntryPoints != nil {
		h.EntryPoint = h.EntryPoints.fixedOf(r.URL)
	}
	return h.parse(ctx, r)
}

// parse parses the email, finds its entry point (an email no entry point
// takes is dead-lettered, its attachments not stored) and stores its
// attachments.
func (h Inbound) parse(ctx context.Context, r *webhook.Request) (webhook.Result, error) {
	m, files, rcpt, err := parseInbound(r)
	if err != nil {
		return webhook.Result{}, err
	}
	if h.EntryPoints != nil {
		id, to, dead, err := h.EntryPoints.find(rcpt, h.EntryPoint)
		if err != nil {
			return webhook.Result{}, err
		}
		if dead != "" {
			return webhook.Result{DeadLetter: webhook.DeadLetterUnknownEntryPoint, DeadLetterError: dead}, nil
		}
		m.EntryPoint = id
		if to != "" {
			// The reply leaves from the address the customer wrote to.
			m.To.Address = to
		}
	}
	for i, f := range files {
		if h.Media == nil {
			m.Attachments[i].Status, m.Attachments[i].Error = "failed", "no media store"
			continue
		}
		// Keyed by the email and the file itself: a redelivery of this
		// email writes the same file again, never a second copy.
		m.Attachments[i] = h.Media.Put(ctx, media.FileKey(&m, i, f.Data), bytes.NewReader(f.Data), m.Attachments[i])
	}
	ev, err := webhook.MessageEvent(source, m)
	if err != nil {
		return webhook.Result{}, err
	}
	return webhook.Result{Events: []webhook.Event{ev}}, nil
}

// Authorize checks the basic auth credentials, from the headers alone: the
// routes call it before the body is read.
func (h Inbound) Authorize(hdr webhook.Header) error {
	req := http.Request{Header: http.Header{"Authorization": hdr.Values("Authorization")}}
	user, pass, ok := req.BasicAuth()
	// Both compared, in constant time, whatever the first gives.
	u := subtle.ConstantTimeCompare(digest(user), digest(h.User))
	p := subtle.ConstantTimeCompare(digest(pass), digest(h.Password))
	if !ok || h.User == "" || u&p != 1 {
		return fmt.Errorf("sendgrid: %w: inbound parse needs valid basic auth", webhook.ErrUnauthorized)
	}
	return nil
}

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// ParseInbound parses an Inbound Parse request, default or raw mode, into
// a message and the attachments' bytes (Attachments[i] describes files[i]).
// The message's SenderVerified says whether SendGrid's SPF or DKIM verdict
// authenticates its From address; the verdicts are kept in Extra["spf"]
// and Extra["dkim"] as received.
func ParseInbound(r *webhook.Request) (normalize.Message, []File, error) {
	m, files, _, err := parseInbound(r)
	return m, files, err
}

// parseInbound is ParseInbound, with every recipient of the email,
// canonical: the envelope's and the To header's.
func parseInbound(r *webhook.Request) (normalize.Message, []File, recipients, error) {
	fields, files, err := readForm(r)
	if err != nil {
		return normalize.Message{}, nil, recipients{}, err
	}
	m := normalize.Message{MessageID: normalize.NewID(), Channel: normalize.ChannelEmail, Provider: Provider,
		Direction: normalize.Inbound, ReceivedAt: r.ReceivedAt.UTC(), Subject: fields["subject"]}
	body := inboundBody{headers: fields["headers"], text: fields["text"], html: fields["html"]}
	if raw := fields["email"]; raw != "" {
		if body, files, err = readRaw(raw, files, &m); err != nil {
			return normalize.Message{}, nil, recipients{}, err
		}
	}
	rcpt, err := addresses(fields, &m)
	if err != nil {
		return normalize.Message{}, nil, recipients{}, err
	}
	m.HTML = body.html
	m.Text, m.Extra = body.text, map[string]any{}
	if fresh, quoted := SplitQuoted(body.text); quoted != "" {
		m.Text = fresh
		m.Extra["full_text"], m.Extra["quoted_text"] = body.text, quoted
	}
	for _, k := range []string{"SPF", "dkim", "spam_score", "sender_ip"} {
		if v := fields[k]; v != "" {
			m.Extra[strings.ToLower(k)] = v
		}
	}
	// Only SendGrid's own verdicts count, never headers inside the mail
	// (senderauth.go).
	verified := senderVerified(m.From.Address, fields["SPF"], fields["dkim"], fields["envelope"])
	m.SenderVerified = &verified
	threadOf(body.headers, r.Body, &m)
	for _, f := range files {
		m.Attachments = append(m.Attachments, normalize.Attachment{Filename: f.Name, ContentType: f.ContentType,
			Size: int64(len(f.Data)), Status: "pending"})
	}
	if len(m.Extra) == 0 {
		m.Extra = nil
	}
	return m, files, rcpt, nil
}

// inboundBody is the mail's headers and bodies, from the form's fields
// (default mode) or the raw MIME message (raw mode).
type inboundBody struct{ headers, text, html string }

// readForm reads the multipart form: its fields, decoded from their
// charsets, and its files.
func readForm(r *webhook.Request) (map[string]string, []File, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("sendgrid: %w: inbound parse sends multipart/form-data", webhook.ErrUnsupported)
	}
	fields := map[string]string{}
	var files []File
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("sendgrid: %w: multipart: %v", webhook.ErrMalformed, err)
		}
		data, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil || len(data) > maxFieldBytes {
			return nil, nil, fmt.Errorf("sendgrid: %w: part %q unreadable or too large", webhook.ErrMalformed, p.FormName())
		}
		if p.FileName() != "" {
			if len(files) >= maxAttachments {
				return nil, nil, fmt.Errorf("sendgrid: %w: more than %d attachments", webhook.ErrMalformed, maxAttachments)
			}
			files = append(files, File{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Data: data})
			continue
		}
		fields[p.FormName()] = string(data)
	}
	var charsets map[string]string
	if c := fields["charsets"]; c != "" {
		_ = json.Unmarshal([]byte(c), &charsets)
	}
	for k, v := range fields {
		fields[k] = decode(v, charsets[k])
	}
	return fields, files, nil
}

// readRaw reads the raw MIME message of raw mode: its bodies, headers and
// files (added to files); the subject when the form had none.
func readRaw(raw string, files []File, m *normalize.Message) (inboundBody, []File, error) {
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		return inboundBody{}, nil, fmt.Errorf("sendgrid: %w: raw email: %v", webhook.ErrMalformed, err)
	}
	var b inboundBody
	var rawFiles []File
	b.text, b.html, rawFiles, err = walk(mail.Header(msg.Header).Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	if err != nil {
		return inboundBody{}, nil, fmt.Errorf("sendgrid: %w: raw email body: %v", webhook.ErrMalformed, err)
	}
	if len(files)+len(rawFiles) > maxAttachments {
		return inboundBody{}, nil, fmt.Errorf("sendgrid: %w: more than %d attachments", webhook.ErrMalformed, maxAttachments)
	}
	var hb strings.Builder
	for k, vs := range msg.Header {
		for _, v := range vs {
			hb.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.headers = hb.String()
	if m.Subject == "" {
		m.Subject = decodeHeader(msg.Header.Get("Subject"))
	}
	return b, append(files, rawFiles...), nil
}

// recipients are the addresses an email was sent to, canonical: the
// envelope's (where SendGrid delivered it) and the To header's.
type recipients struct{ envelope, header []string }

// addresses sets the sender (From) and the recipient (the envelope's first
// To, else the To header's first address), and returns every recipient.
func addresses(fields map[string]string, m *normalize.Message) (recipients, error) {
	from, name, err := normalize.CanonicalEmail(fields["from"])
	if err != nil {
		return recipients{}, fmt.Errorf("sendgrid: %w: from %q is not an email address", webhook.ErrMalformed, fields["from"])
	}
	m.From = normalize.Party{Kind: normalize.KindEmail, Address: from, Name: name}
	var env struct {
		To   []string `json:"to"`
		From string   `json:"from"`
	}
	_ = json.Unmarshal([]byte(fields["envelope"]), &env)
	header, _ := mail.ParseAddressList(fields["to"])
	to := ""
	if len(env.To) > 0 {
		to = env.To[0]
	} else if len(header) > 0 {
		to = header[0].Address
	}
	addr, _, err := normalize.CanonicalEmail(to)
	if err != nil {
		return recipients{}, fmt.Errorf("sendgrid: %w: no recipient", webhook.ErrMalformed)
	}
	m.To = normalize.Party{Kind: normalize.KindEmail, Address: addr}
	var rcpt recipients
	for _, a := range env.To {
		if c, _, err := normalize.CanonicalEmail(a); err == nil {
			rcpt.envelope = append(rcpt.envelope, c)
		}
	}
	for _, a := range header {
		rcpt.header = append(rcpt.header, strings.ToLower(a.Address))
	}
	return rcpt, nil
}

// threadOf sets the threading headers and the provider message id: the
// Message-ID, else a digest of the request body.
func threadOf(headers string, body []byte, m *normalize.Message) {
	if h, err := mail.ReadMessage(strings.NewReader(strings.TrimRight(headers, "\r\n") + "\r\n\r\n")); err == nil {
		th := &normalize.Thread{MessageID: h.Header.Get("Message-Id"), InReplyTo: h.Header.Get("In-Reply-To"),
			References: strings.Fields(h.Header.Get("References"))}
		if th.MessageID != "" || th.InReplyTo != "" || len(th.References) > 0 {
			m.Thread = th
		}
	}
	if m.Thread != nil && m.Thread.MessageID != "" {
		m.ProviderMessageID = strings.Trim(m.Thread.MessageID, "<> ")
	} else {
		sum := sha256.Sum256(body)
		m.ProviderMessageID = "sha256:" + hex.EncodeToString(sum[:])
	}
}

// walk reads a MIME body: the first text/plain and text/html parts, and
// every part with a filename or an attachment disposition.
func walk(contentType, encoding string, body io.Reader, depth int) (text, html string, files []File, err error) {
	if depth > 5 {
		return "", "", nil, errors.New("MIME nesting too deep")
	}
	mt, params, perr := mime.ParseMediaType(contentType)
	if perr != nil {
		mt, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return text, html, files, nil
			}
			if err != nil {
				return "", "", nil, err
			}
			disp, dparams, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			name := dparams["filename"]
			if name == "" {
				if _, cp, err := mime.ParseMediaType(p.Header.Get("Content-Type")); err == nil {
					name = cp["name"]
				}
			}
			if disp == "attachment" || name != "" {
				data, err := io.ReadAll(io.LimitReader(transfer(p, p.Header.Get("Content-Transfer-Encoding")), maxFieldBytes))
				if err != nil {
					return "", "", nil, err
				}
				ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
				files = append(files, File{Name: decodeHeader(name), ContentType: ct, Data: data})
				continue
			}
			t, h, f, err := walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1)
			if err != nil {
				return "", "", nil, err
			}
			if text == "" {
				text = t
			}
			if html == "" {
				html = h
			}
			files = append(files, f...)
		}
	}
	data, err := io.ReadAll(io.LimitReader(transfer(body, encoding), maxFieldBytes))
	if err != nil {
		return "", "", nil, err
	}
	s := decode(string(data), params["charset"])
	switch mt {
	case "text/plain":
		return s, "", nil, nil
	case "text/html":
		return "", s, nil, nil
	}
	return "", "", nil, nil
}

func transfer(r io.Reader, encoding string) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &skipSpace{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// skipSpace drops the line breaks inside base64 bodies.
type skipSpace struct{ r io.Reader }

func (s *skipSpace) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	j := 0
	for _, b := range p[:n] {
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			p[j] = b
			j++
		}
	}
	if j == 0 && n > 0 && err == nil {
		return s.Read(p)
	}
	return j, err
}

// decode converts text from a charset to UTF-8; unknown charsets are kept as is.
func decode(s, charset string) string {
	charset = strings.TrimSpace(charset)
	if charset == "" || strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
		return s
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return s
	}
	out, err := enc.NewDecoder().String(s)
	if err != nil {
		return s
	}
	return out
}

var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}}

func decodeHeader(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// Lines that start the quoted part of a reply.
var quoteStarts = []*regexp.Regexp{
	regexp.MustCompile(`(?i)^\s*On .{1,300}wrote:\s*$`),            // Gmail, Apple Mail
	regexp.MustCompile(`(?i)^\s*Le .{1,300}a écrit\s*:\s*$`),       // French clients
	regexp.MustCompile(`(?i)^\s*Am .{1,300}schrieb .{0,200}:\s*$`), // German clients
	regexp.MustCompile(`^\s*-{2,}\s*Original Message\s*-{2,}\s*$`), // Outlook
	regexp.MustCompile(`^\s*_{20,}\s*$`),                           // Outlook separator
	regexp.MustCompile(`^\s*From: .+$`),                            // Outlook header block
}

// SplitQuoted separates the new text of a reply from the quoted message
// below it: the first attribution line ("On … wrote:", Outlook's
// "Original Message", a From: block) or the first line of a trailing run
// of "> " lines starts the quoted part.
func SplitQuoted(text string) (fresh, quoted string) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	cut := -1
	for i, l := range lines {
		for _, re := range quoteStarts {
			if re.MatchString(l) && i > 0 {
				cut = i
				break
			}
		}
		if cut >= 0 {
			break
		}
	}
	if cut < 0 {
		// A trailing block of "> " lines (blank lines allowed inside).
		start := len(lines)
		for i := len(lines) - 1; i >= 0; i-- {
			t := strings.TrimSpace(lines[i])
			if strings.HasPrefix(t, ">") {
				start = i
			} else if t != "" {
				break
			}
		}
		if start < len(lines) && start > 0 {
			cut = start
		}
	}
	if cut <= 0 {
		return text, ""
	}
	return strings.TrimSpace(strings.Join(lines[:cut], "\n")), strings.TrimSpace(strings.Join(lines[cut:], "\n"))
}
