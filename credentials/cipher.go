package credentials

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Keys seal what is kept in Redis with AES-256-GCM. The first key seals;
// every key opens, so a key is rotated by putting the new one first and
// dropping the old one once every value has been sealed again (each
// refresh seals its account's value again).
type Keys struct {
	aeads []cipher.AEAD
	ids   [][]byte
}

// keyIDLen is how many bytes of a key's SHA-256 name it in a sealed value.
const keyIDLen = 4

// ParseKeys reads CREDENTIALS_KEY: keys of 32 bytes, each as 64 hex digits
// or in base64, separated by commas, the sealing key first. Its errors
// name a key by position only.
func ParseKeys(s string) (*Keys, error) {
	k := &Keys{}
	for i, text := range strings.Split(s, ",") {
		text = strings.TrimSpace(text)
		raw, err := hex.DecodeString(text)
		if err != nil || len(raw) != 32 {
			raw, err = base64.StdEncoding.DecodeString(text)
		}
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %d: want 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)", i+1)
		}
		block, _ := aes.NewCipher(raw)
		aead, _ := cipher.NewGCM(block)
		sum := sha256.Sum256(raw)
		k.aeads, k.ids = append(k.aeads, aead), append(k.ids, sum[:keyIDLen])
	}
	return k, nil
}

// ErrNoKey is the error of a sealed value none of the keys opens.
var ErrNoKey = errors.New("sealed with a key not in CREDENTIALS_KEY")

// seal encrypts plain, bound to where it is kept (aad): the value of one
// key cannot be put in another's place.
func (k *Keys) seal(plain, aad []byte) []byte {
	aead := k.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append(append([]byte{}, k.ids[0]...), nonce...)
	return aead.Seal(out, nonce, plain, aad)
}

// open decrypts what seal sealed with any of the keys.
func (k *Keys) open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < keyIDLen {
		return nil, errors.New("sealed value too short")
	}
	for i, id := range k.ids {
		if string(id) != string(sealed[:keyIDLen]) {
			continue
		}
		aead := k.aeads[i]
		rest := sealed[keyIDLen:]
		if len(rest) < aead.NonceSize() {
			return nil, errors.New("sealed value too short")
		}
		plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad)
		if err != nil {
			return nil, errors.New("sealed value does not open: altered, or moved from another key")
		}
		return plain, nil
	}
	return nil, ErrNoKey
}
