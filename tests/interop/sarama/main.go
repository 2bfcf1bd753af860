// Sarama (github.com/IBM/sarama) against a Kafka listener with SASL OAUTHBEARER:
// tests/test_interop_sarama.py runs it against the broker emulator.
//
// It reads one JSON object from stdin:
//
//	{"bootstrap": "127.0.0.1:9092", "token": "...", "extensions": {"k": "v"},
//	 "version": "2.8.0", "topic": "orders", "timeout_ms": 5000}
//
// configures a client for that Kafka version (config.Version) with a static
// AccessTokenProvider, lists the topics and the topic's partitions, and prints
// one JSON line: {"ok": true, "topics": [...], "partitions": N} or
// {"ok": false, "error": "..."}. Sarama's own log goes to stderr.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"sort"
	"time"

	"github.com/IBM/sarama"
)

type input struct {
	Bootstrap  string            `json:"bootstrap"`
	Token      string            `json:"token"`
	Extensions map[string]string `json:"extensions"`
	Version    string            `json:"version"`
	Topic      string            `json:"topic"`
	TimeoutMs  int               `json:"timeout_ms"`
}

type outcome struct {
	OK         bool     `json:"ok"`
	Topics     []string `json:"topics,omitempty"`
	Partitions int      `json:"partitions,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// staticToken is the AccessTokenProvider: the same token on every call.
type staticToken struct {
	token      string
	extensions map[string]string
}

func (s staticToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: s.token, Extensions: s.extensions}, nil
}

func run(in input) outcome {
	version, err := sarama.ParseKafkaVersion(in.Version)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	timeout := time.Duration(in.TimeoutMs) * time.Millisecond
	config := sarama.NewConfig()
	config.Version = version
	config.ClientID = "sarama-drive"
	config.Net.SASL.Enable = true
	config.Net.SASL.Mechanism = sarama.SASLTypeOAuth
	config.Net.SASL.TokenProvider = staticToken{token: in.Token, extensions: in.Extensions}
	config.Net.DialTimeout = timeout
	config.Net.ReadTimeout = timeout
	config.Net.WriteTimeout = timeout
	config.Metadata.Retry.Max = 1
	config.Metadata.Retry.Backoff = 100 * time.Millisecond
	client, err := sarama.NewClient([]string{in.Bootstrap}, config)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	defer client.Close()
	topics, err := client.Topics()
	if err != nil {
		return outcome{Error: err.Error()}
	}
	sort.Strings(topics)
	partitions, err := client.Partitions(in.Topic)
	if err != nil {
		return outcome{Error: err.Error()}
	}
	return outcome{OK: true, Topics: topics, Partitions: len(partitions)}
}

func main() {
	sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fmt.Fprintln(os.Stderr, "bad input:", err)
		os.Exit(2)
	}
	line, _ := json.Marshal(run(in))
	fmt.Println(string(line))
}
