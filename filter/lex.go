package filter

// tokKind is the lexical class of a filter token. Keywords are plain words:
// the parser decides what a word means from where it stands, as ss does.
type tokKind uint8

const (
	tEOF    tokKind = iota
	tWord           // a keyword, a state, a port, an address
	tString         // a quoted word: 'my app' or "(sd-pam)"
	tLParen         // (
	tRParen         // )
	tNot            // !
	tAnd            // & or &&
	tOr             // | or ||
	tOp             // = == != < <= > >=
)

// token is one lexeme; pos is its byte offset in the expression, for
// error columns.
type token struct {
	kind tokKind
	text string
	pos  int
}

// describe names a token in an error message.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "the end of the expression"
	case tString:
		return "quoted " + quoteMsg(t.text)
	}
	return quoteMsg(t.text)
}

func quoteMsg(s string) string { return `"` + s + `"` }

// isDelim reports the bytes that end a word. ss needs spaces around every
// token; socktop also splits "sport>=1024" and "!tcp" and "(udp)", which is
// what people type in a prompt.
func isDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '(', ')', '=', '<', '>', '!', '&', '|', '"', '\'':
		return true
	}
	return false
}

// lex splits expr into tokens, ending with a tEOF at len(expr).
func lex(expr string) ([]token, error) {
	toks := make([]token, 0, 8)
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			i++
			continue
		case '(':
			toks = append(toks, token{tLParen, "(", i})
			i++
			continue
		case ')':
			toks = append(toks, token{tRParen, ")", i})
			i++
			continue
		case '"', '\'':
			end := i + 1
			for end < len(expr) && expr[end] != c {
				end++
			}
			if end == len(expr) {
				return nil, errAt(expr, i, "unterminated quote %c", c)
			}
			toks = append(toks, token{tString, expr[i+1 : end], i})
			i = end + 1
			continue
		case '!':
			if i+1 < len(expr) && expr[i+1] == '=' {
				toks = append(toks, token{tOp, "!=", i})
				i += 2
			} else {
				toks = append(toks, token{tNot, "!", i})
				i++
			}
			continue
		case '=', '<', '>':
			n := 1
			if i+1 < len(expr) && expr[i+1] == '=' {
				n = 2
			}
			toks = append(toks, token{tOp, expr[i : i+n], i})
			i += n
			continue
		case '&', '|':
			n := 1
			if i+1 < len(expr) && expr[i+1] == c {
				n = 2
			}
			k := tAnd
			if c == '|' {
				k = tOr
			}
			toks = append(toks, token{k, expr[i : i+n], i})
			i += n
			continue
		}
		start := i
		for i < len(expr) && !isDelim(expr[i]) {
			i++
		}
		toks = append(toks, token{tWord, expr[start:i], start})
	}
	return append(toks, token{tEOF, "", len(expr)}), nil
}
