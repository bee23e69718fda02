package inbox

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"weibao/bot"
)

// journal is the inbox's local write-ahead file. Accept answers once its
// event is synced here; the mover copies events into the database behind
// it. The file only needs what the database may not have yet, so it is
// emptied whenever the database has caught up, and whatever it holds at
// start-up is copied again (the database's unique key drops what was
// already there).
//
// A record is a 4-byte big-endian length, the CRC-32C of the body, and the
// body: the event as JSON, with its parsed message (records written before
// messages were kept hold the payload alone, and are parsed when read).
type journal struct {
	f    *os.File
	size int64
	buf  []byte
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// openJournal opens (or creates) the journal at path, locks it against a
// second process, and returns the events it holds. A torn last record (a
// crash mid-write, never acknowledged) is cut off; cut is its size.
func openJournal(path string) (j *journal, evs []bot.InboundEvent, cut int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, 0, fmt.Errorf("inbox journal: %w", err)
	}
	// Owner only: the records carry fault text, names and phone numbers.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("inbox journal: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	if err := f.Chmod(0o600); err != nil { // a journal of an older version
		return nil, nil, 0, fmt.Errorf("inbox journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, nil, 0, fmt.Errorf("inbox journal %s is in use by another process: %w", path, err)
	}
	// The file's name must survive a power cut as well as its records.
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	evs, good, err := readJournal(f)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("inbox journal %s: %w", path, err)
	}
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := f.Truncate(good); err != nil {
		return nil, nil, 0, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		return nil, nil, 0, err
	}
	return &journal{f: f, size: good}, evs, end - good, nil
}

// readJournal decodes records up to the first incomplete or corrupt one and
// returns the offset where the good ones end.
func readJournal(f *os.File) ([]bot.InboundEvent, int64, error) {
	r := bufio.NewReader(f)
	var evs []bot.InboundEvent
	var off int64
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return evs, off, nil
			}
			return nil, 0, err
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n > maxRecord {
			return evs, off, nil
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return evs, off, nil
			}
			return nil, 0, err
		}
		var ev bot.InboundEvent
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(head[4:]) || json.Unmarshal(body, &ev) != nil {
			return evs, off, nil
		}
		evs = append(evs, ev)
		off += int64(len(head)) + int64(n)
	}
}

// maxRecord bounds a record's body: callbacks are limited far below it.
const maxRecord = 16 << 20

// append writes evs with one write and one fdatasync. After a failed
// append the file is cut back, so a half-written batch is never replayed as
// acknowledged.
func (j *journal) append(evs []bot.InboundEvent) error {
	j.buf = j.buf[:0]
	for _, ev := range evs {
		body, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		j.buf = binary.BigEndian.AppendUint32(j.buf, uint32(len(body)))
		j.buf = binary.BigEndian.AppendUint32(j.buf, crc32.Checksum(body, crcTable))
		j.buf = append(j.buf, body...)
	}
	_, err := j.f.Write(j.buf)
	if err == nil {
		err = syscall.Fdatasync(int(j.f.Fd()))
	}
	if err != nil {
		j.f.Truncate(j.size)
		j.f.Seek(j.size, io.SeekStart)
		return fmt.Errorf("inbox journal: %w", err)
	}
	j.size += int64(len(j.buf))
	return nil
}

// reset empties the journal; only call it when the database holds every
// event written to it.
func (j *journal) reset() error {
	if err := j.f.Truncate(0); err != nil {
		return err
	}
	_, err := j.f.Seek(0, io.SeekStart)
	j.size = 0
	return err
}

func (j *journal) close() error { return j.f.Close() }
