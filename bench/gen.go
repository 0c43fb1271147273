package bench

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
)

// The sends the bench makes: Mateo send_message bodies of a fixed size.
const (
	payloadSize = 364
	fromID      = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
	farFuture   = "2030-01-01T09:00:00Z"
	filler      = "Thank you for shopping with us. Your parcel leaves our warehouse tomorrow morning and the courier texts you a delivery window. "
)

// mateoPayload returns the body of Mateo send_message number i, padded to
// size bytes, whose text starts "bench #i:"; without send_after when
// sendAfter is empty.
func mateoPayload(i int, sendAfter string, size int) []byte {
	b := make([]byte, 0, size)
	b = fmt.Appendf(b, `{"from":%q,"to":[{"handle":"customer%d@example.com","full_name":"Customer %d"}],"subject":"Your order %d ships tomorrow","text":"bench #%d: `,
		fromID, i, i, i, i)
	tail := `"}`
	if sendAfter != "" {
		tail = `","send_after":"` + sendAfter + `"}`
	}
	for pad := size - len(b) - len(tail); pad > 0; {
		k := min(pad, len(filler))
		b = append(b, filler[:k]...)
		pad -= k
	}
	return append(b, tail...)
}

// envelope wraps a Mateo send_message body, with process_at unless empty.
func envelope(payload []byte, processAt string) []byte {
	b := make([]byte, 0, len(payload)+96)
	b = append(b, `{"type":"mateo:send_message",`...)
	if processAt != "" {
		b = append(b, `"process_at":"`+processAt+`",`...)
	}
	b = append(b, `"payload":`...)
	b = append(b, payload...)
	return append(b, '}')
}

// withKey gives an envelope made by envelope the idempotency key key.
func withKey(envelope []byte, key string) []byte {
	return append(fmt.Appendf(nil, `{"key":%q,`, key), envelope[1:]...)
}

// textIndex returns the i of "bench #i:" in a request body.
func textIndex(body []byte) (int, bool) {
	_, rest, ok := bytes.Cut(body, []byte("bench #"))
	if !ok {
		return 0, false
	}
	digits, _, ok := bytes.Cut(rest, []byte(":"))
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(string(digits))
	return i, err == nil
}

// writeLines writes line(0) to line(n-1) to path, one a line.
func writeLines(path string, n int, line func(int) []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range n {
		w.Write(line(i))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pipeLines streams line(0) to line(n-1), one a line; closing it stops
// the writer.
func pipeLines(n int, line func(int) []byte) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 1<<16)
		var err error
		for i := 0; i < n && err == nil; i++ {
			if _, err = w.Write(line(i)); err == nil {
				err = w.WriteByte('\n')
			}
		}
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// htmlSize is the size of the HTML email bodies.
const htmlSize = 20_000

var (
	firstNames = []string{"Ana", "João", "Marta", "Lukas", "Sofia", "Chen", "Amira", "Oliver", "Inès", "Kwame", "Priya", "Mateus", "Hannah", "Yusuf", "Elena", "Tomás"}
	lastNames  = []string{"Silva", "Okafor", "Müller", "Rossi", "Nakamura", "Dubois", "Kowalski", "Haddad", "Fernandes", "Larsen", "Novak", "Brennan", "Castillo", "Ivanova"}
	adjectives = []string{"Linen", "Merino", "Organic cotton", "Recycled", "Waxed canvas", "Ceramic", "Oak", "Stainless", "Hand-thrown", "Cast iron", "Bamboo", "Wool-blend"}
	nouns      = []string{"throw blanket", "crew-neck sweater", "tote bag", "pour-over kettle", "serving bowl", "desk lamp", "chef's knife", "bath towel set", "rain jacket", "notebook", "planter", "espresso cups"}
	sentences  = []string{
		"Your order has been packed by our team in Porto and is waiting for the courier.",
		"We checked every item by hand before it left the shelf, so it arrives as you saw it online.",
		"If anything is not right, reply to this email and a real person will answer within a day.",
		"Deliveries to apartments may need a door code; add it to your address in your account.",
		"You can change the delivery day up to the evening before, from the tracking page.",
		"Returns are free for thirty days, and the label is already in the box.",
		"Some of this season's pieces are made in small batches, so colours may vary slightly.",
		"We plant a tree for every order over fifty euros, with our partners in the Serra da Estrela.",
		"Care instructions are printed inside the lid of the box; keep them for later.",
		"Our warehouse runs on solar power from April to October, and we ship in recycled cardboard.",
		"Members get early access to the winter collection next Thursday at nine in the morning.",
		"The courier will text you a two-hour window on the morning of the delivery.",
		"Please keep your receipt number handy if you call us about this order.",
		"Gift wrapping was added to the items you marked as presents, with your handwritten note.",
	}
)

// htmlPayload returns the body of Mateo send_message number i with a
// realistic, varied HTML email of about htmlSize bytes (and no text), due
// at farFuture.
func htmlPayload(i int) []byte {
	rng := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	token := func() string {
		b := make([]byte, 12)
		for k := range b {
			b[k] = byte(rng.Uint32())
		}
		return hex.EncodeToString(b)
	}
	name := pick(firstNames) + " " + pick(lastNames)
	order := 100000 + rng.IntN(900000)

	var h strings.Builder
	h.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`)
	fmt.Fprintf(&h, `<title>Order %d is on its way</title>`, order)
	h.WriteString(`<style>body{margin:0;padding:0;background:#f4f5f7;font-family:Helvetica,Arial,sans-serif;color:#1f2933}` +
		`.wrap{max-width:600px;margin:0 auto;background:#ffffff}.btn{display:inline-block;padding:12px 20px;background:#0b6e4f;color:#ffffff;text-decoration:none;border-radius:4px}` +
		`td.item{padding:8px 12px;border-bottom:1px solid #e4e7eb}p{line-height:1.5;margin:0 0 12px}</style></head><body>`)
	fmt.Fprintf(&h, `<table class="wrap" role="presentation" width="100%%" cellpadding="0" cellspacing="0"><tr><td style="padding:24px"><img src="https://cdn.example.com/mail/logo.png?c=%s" width="120" alt="Example Shop">`, token())
	fmt.Fprintf(&h, `<h1 style="font-size:22px">Hi %s, order #%d ships tomorrow</h1>`, name, order)
	paragraph := func() {
		h.WriteString("<p>")
		for k := range 2 + rng.IntN(4) {
			if k > 0 {
				h.WriteByte(' ')
			}
			h.WriteString(pick(sentences))
		}
		h.WriteString("</p>\n")
	}
	paragraph()
	h.WriteString(`<table width="100%" cellpadding="0" cellspacing="0"><tr><th align="left">Item</th><th>Qty</th><th align="right">Price</th></tr>` + "\n")
	for h.Len() < htmlSize*3/5 {
		fmt.Fprintf(&h, `<tr><td class="item"><a href="https://shop.example.com/p/%d?utm_source=email&amp;utm_campaign=order&amp;t=%s">%s %s</a><br><small>SKU %s-%04d, colour %s</small></td><td class="item" align="center">%d</td><td class="item" align="right">€%d.%02d</td></tr>`+"\n",
			rng.IntN(99999), token(), pick(adjectives), pick(nouns), strings.ToUpper(token()[:6]), rng.IntN(10000), pick([]string{"sand", "slate", "forest", "ochre", "navy", "oat"}),
			1+rng.IntN(3), 5+rng.IntN(240), rng.IntN(100))
		if rng.IntN(4) == 0 {
			paragraph()
		}
	}
	h.WriteString("</table>\n")
	fmt.Fprintf(&h, `<p style="text-align:center"><a class="btn" href="https://shop.example.com/track/%d?t=%s">Track your parcel</a></p>`+"\n", order, token())
	const footer = 400
	for h.Len() < htmlSize-footer {
		paragraph()
	}
	fmt.Fprintf(&h, `<p style="font-size:12px;color:#7b8794">Example Shop, Rua das Flores 12, 4050-262 Porto. <a href="https://shop.example.com/unsubscribe?u=%s">Unsubscribe</a> or <a href="https://shop.example.com/prefs?u=%s">change what we send you</a>.</p>`, token(), token())
	h.WriteString(`</td></tr></table></body></html>`)

	type recipient struct {
		Handle   string `json:"handle"`
		FullName string `json:"full_name"`
	}
	body := struct {
		From      string      `json:"from"`
		To        []recipient `json:"to"`
		Subject   string      `json:"subject"`
		HTML      string      `json:"html"`
		SendAfter string      `json:"send_after"`
	}{fromID, []recipient{{fmt.Sprintf("customer%d@example.com", i), name}}, fmt.Sprintf("Order #%d ships tomorrow", order), h.String(), farFuture}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // as most JSON encoders write it
	if err := enc.Encode(body); err != nil {
		panic(err) // strings only: cannot fail
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
