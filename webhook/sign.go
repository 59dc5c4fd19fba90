// Package webhook relays silo's outbox (silo.OutboxStore) to the endpoints
// that subscribe to it: it claims due deliveries, renders each event as a
// CloudEvents 1.0 structured JSON body, signs it as Standard Webhooks
// specifies, posts it through a client that refuses private addresses, and
// records the outcome with backoff. The service only adds the outbox row
// where it commits; everything about delivering lives here.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// secretPrefix marks a Standard Webhooks secret; the rest is base64.
const secretPrefix = "whsec_"

// Sign returns the webhook-signature header of a delivery: "v1," and the
// base64 HMAC-SHA256, keyed with the secret's bytes, of "id.timestamp.body"
// (Standard Webhooks, symmetric signatures).
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}
