package redact

import (
	"net/url"
	"strings"
)

// urlMask is what URL puts in place of a password or a query value, as
// url.URL.Redacted does for the password.
const urlMask = "xxxxx"

// URLSecrets returns the secrets a URL carries: its password, its user name
// when it has no password (https://<token>@host is a common way to pass a
// token), and the values of its query parameters (?api-key=…, as
// Azure-style proxies take the key). A value that is not a URL has none.
func URLSecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	var out []string
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
		} else {
			out = append(out, u.User.Username())
		}
	}
	for _, vs := range u.Query() {
		out = append(out, vs...)
	}
	// Values as written, undecoded, in case they are shown that way.
	// A part without "=" may be a bare token (?<token>).
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if _, v, ok := strings.Cut(kv, "="); ok {
			out = append(out, v)
		} else {
			out = append(out, kv)
		}
	}
	return out
}

// URL returns raw as it may be shown: its password (or a user name without
// one) and every query value (or bare query part) replaced by xxxxx, and
// its fragment dropped. Something that does not
// parse as a URL but has an @ or a ? is not shown at all, since where its
// secret ends cannot be told.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.ContainsAny(raw, "@?") {
			return "(an unparsable URL, not shown: it may hold credentials)"
		}
		return raw
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), urlMask)
		} else {
			u.User = url.User(urlMask)
		}
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, kv := range parts {
			switch k, v, ok := strings.Cut(kv, "="); {
			case ok && v != "":
				parts[i] = k + "=" + urlMask
			case !ok && kv != "":
				parts[i] = urlMask
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
