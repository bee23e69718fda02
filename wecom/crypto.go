// Package wecom adapts WeCom (企业微信) to weibao's channel-neutral messages:
// the WXBizMsgCrypt scheme shared by the self-built app and the intelligent
// robot, the callback parsers that turn WeCom payloads into bot.Message, the
// API client, the robot's long connection, and the Sender that turns
// bot.Outgoing into WeCom calls. Nothing outside this package builds WeCom
// JSON or XML.
package wecom

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Crypto errors. ErrSignature means the request was not signed with our
// token; the others mean a correctly signed but unusable payload.
var (
	ErrSignature = errors.New("wecom: bad signature")
	ErrCipher    = errors.New("wecom: bad ciphertext")
	ErrReceiver  = errors.New("wecom: wrong receive id")
	// ErrStale means a signed callback's timestamp lies outside the window:
	// a captured callback replayed later, or a clock far off.
	ErrStale = errors.New("wecom: timestamp outside the window")
)

// CheckTimestamp returns ErrStale unless the callback's timestamp (Unix
// seconds, as signed) is within window of now. Replays inside the window
// are the inbox's msgid dedupe's to drop.
func CheckTimestamp(timestamp string, now time.Time, window time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is no Unix time", ErrStale, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%w: %s off", ErrStale, d.Round(time.Second))
	}
	return nil
}

// blockSize is WeCom's PKCS#7 block: 32 bytes, not AES's 16.
const blockSize = 32

// Crypto signs, verifies, encrypts and decrypts WeCom callbacks for one
// token and EncodingAESKey. It is safe for concurrent use.
type Crypto struct {
	token     string
	key       []byte
	block     cipher.Block
	receiveID string
}

// NewCrypto builds a Crypto. receiveID is the CorpID for a self-built app and
// "" for an intelligent robot, whose trailer is then not checked (WeCom does
// not document what it puts there).
func NewCrypto(token, encodingAESKey, receiveID string) (*Crypto, error) {
	if token == "" {
		return nil, errors.New("wecom: empty token")
	}
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wecom: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("wecom: EncodingAESKey: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("wecom: EncodingAESKey: %w", err)
	}
	return &Crypto{token: token, key: key, block: block, receiveID: receiveID}, nil
}

// Signature is sha1 over the sorted, concatenated token, timestamp, nonce and
// ciphertext, in lowercase hex.
func (c *Crypto) Signature(timestamp, nonce, encrypt string) string {
	return Signature(c.token, timestamp, nonce, encrypt)
}

// Signature computes a WeCom msg_signature from its parts.
func Signature(parts ...string) string {
	s := append([]string(nil), parts...)
	sort.Strings(s)
	h := sha1.New()
	for _, p := range s {
		io.WriteString(h, p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Verify checks signature in constant time.
func (c *Crypto) Verify(signature, timestamp, nonce, encrypt string) error {
	want := c.Signature(timestamp, nonce, encrypt)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) != 1 {
		return ErrSignature
	}
	return nil
}

// Open verifies the signature and then decrypts; it is what every inbound
// path calls first.
func (c *Crypto) Open(signature, timestamp, nonce, encrypt string) ([]byte, error) {
	if err := c.Verify(signature, timestamp, nonce, encrypt); err != nil {
		return nil, err
	}
	return c.Decrypt(encrypt)
}

// Decrypt returns the message inside a base64 ciphertext. It checks the
// padding strictly, the length field, and the trailing receive id when the
// Crypto has one.
func (c *Crypto) Decrypt(encrypt string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %v", ErrCipher, err)
	}
	if len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: length %d", ErrCipher, len(raw))
	}
	plain := make([]byte, len(raw))
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(plain, raw)
	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockSize || pad > len(plain) {
		return nil, fmt.Errorf("%w: padding", ErrCipher)
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("%w: padding", ErrCipher)
		}
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, fmt.Errorf("%w: too short", ErrCipher)
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, fmt.Errorf("%w: length field", ErrCipher)
	}
	msg, trailer := plain[20:20+n], plain[20+n:]
	if c.receiveID != "" && subtle.ConstantTimeCompare(trailer, []byte(c.receiveID)) != 1 {
		return nil, ErrReceiver
	}
	return msg, nil
}

// Encrypt encrypts msg with a fresh random prefix.
func (c *Crypto) Encrypt(msg []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", err
	}
	return c.EncryptWithRandom(random[:], msg), nil
}

// EncryptWithRandom is Encrypt with a chosen 16-byte prefix, for pinned test
// vectors.
func (c *Crypto) EncryptWithRandom(random, msg []byte) string {
	var b bytes.Buffer
	b.Write(random[:16])
	binary.Write(&b, binary.BigEndian, uint32(len(msg)))
	b.Write(msg)
	b.WriteString(c.receiveID)
	pad := blockSize - b.Len()%blockSize
	b.Write(bytes.Repeat([]byte{byte(pad)}, pad))
	out := b.Bytes()
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(out, out)
	return base64.StdEncoding.EncodeToString(out)
}
