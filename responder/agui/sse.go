package agui

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errFrameTooLarge is returned by sseReader.Next for an event (or a single
// line) longer than the reader's limit. The upstream is not trusted: without
// a cap, one endless line would grow the buffer until the process dies.
var errFrameTooLarge = errors.New("SSE frame exceeds the size limit")

// sseReader reads the data of server-sent events, as the AG-UI transport
// uses them (the WHATWG event-stream format): lines end in LF or CRLF; a
// blank line ends an event; the values of its data: lines are joined with
// "\n"; comment lines (":…") and the event:, id: and retry: fields are
// ignored, because AG-UI carries everything in the JSON of data.
//
// A lone CR as a line ending, which the format also allows, is not
// supported: no AG-UI server writes it, and treating every CR as an end of
// line would split CRLF in two.
//
// An sseReader is not safe for concurrent use.
type sseReader struct {
	r   *bufio.Reader
	max int
	// data holds the current event's data lines, joined; hasData says
	// whether a data: line was seen, since "data:" alone is an empty value.
	data    []byte
	hasData bool
	line    []byte
}

// lineOverhead is what a line may hold beyond an event's data: the field
// name "data: " and a CRLF, so that a data line of exactly max bytes passes.
const lineOverhead = len("data: \r\n")

// newSSEReader reads events from r, refusing any event whose data, or any
// line, is longer than max bytes.
func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, min(max+lineOverhead, 64<<10)), max: max}
}

// Next returns the data of the next event that has any. The slice is valid
// until the next call. At the end of the stream it returns io.EOF; an
// event not ended by a blank line is dropped then, as the format says, so a
// stream cut in the middle of an event never yields half of its JSON.
func (s *sseReader) Next() ([]byte, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if s.hasData {
				s.hasData = false
				return s.data, nil
			}
			continue
		}
		if err := s.field(line); err != nil {
			return nil, err
		}
	}
}

// field handles one non-blank line of the current event.
func (s *sseReader) field(line []byte) error {
	if line[0] == ':' {
		return nil
	}
	name, value, _ := bytes.Cut(line, []byte(":"))
	if string(name) != "data" {
		return nil
	}
	value = bytes.TrimPrefix(value, []byte(" "))
	if !s.hasData {
		s.data = s.data[:0]
	} else {
		s.data = append(s.data, '\n')
	}
	if len(s.data)+len(value) > s.max {
		return errFrameTooLarge
	}
	s.data = append(s.data, value...)
	s.hasData = true
	return nil
}

// readLine returns the next line without its line ending. A last line with
// no ending is returned as it is, followed by io.EOF on the next call.
func (s *sseReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(s.line)+len(chunk) > s.max+lineOverhead {
			return nil, errFrameTooLarge
		}
		s.line = append(s.line, chunk...)
		switch {
		case err == nil:
			return trimEOL(s.line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(s.line) > 0:
			return trimEOL(s.line), nil
		default:
			return nil, err
		}
	}
}

// trimEOL removes a trailing LF or CRLF.
func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}
