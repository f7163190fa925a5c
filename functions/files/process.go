package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/ledongthuc/pdf"
	"golang.org/x/net/html"

	"github.com/booga-enterprise/functions/infra/blob"
	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/queue"
)

// Limits of text extraction.
const (
	// MaxTextBytes is the most extracted text stored per file.
	MaxTextBytes = 1 << 20
	// MaxPDFBytes is the largest PDF whose text is extracted; the PDF parser
	// needs random access, so the file is spooled to a temporary file first.
	MaxPDFBytes = 256 << 20
)

// Job kinds on ProcessingQueue.
const (
	jobProcess      = "process"
	jobDeleteFolder = "delete_folder"
)

// jobMessage is the body of a ProcessingQueue message.
type jobMessage struct {
	Kind     string `json:"kind"`
	TenantID string `json:"tenant_id"`
	FileID   string `json:"file_id,omitempty"`
	FolderID string `json:"folder_id,omitempty"`
}

// ProcessResult is the invocation's return value, for logs and tests.
type ProcessResult struct {
	Kind   string `json:"kind"`
	FileID string `json:"file_id,omitempty"`
	Status string `json:"status,omitempty"`
}

// ProcessingFunction handles the file-processing function's invocations:
// one Service Bus message per invocation. An error fails the invocation, so
// the message is delivered again. On the last delivery the file is marked
// failed instead, so it never stays in processing for good.
func (s *Service) ProcessingFunction() customhandler.FunctionFunc {
	binding := customhandler.Binding{Name: "message"}
	return func(ctx context.Context, inv customhandler.Invocation) (any, error) {
		msgs, err := customhandler.ParseServiceBus(inv, binding)
		if err != nil {
			return nil, fmt.Errorf("parse file-processing message: %w", err)
		}
		var results []ProcessResult
		for _, m := range msgs {
			res, err := s.HandleJob(ctx, m.Body, m.DeliveryCount)
			if err != nil {
				return nil, err
			}
			results = append(results, res)
		}
		return results, nil
	}
}

// HandleJob runs one ProcessingQueue message. deliveryCount starts at 1.
func (s *Service) HandleJob(ctx context.Context, body []byte, deliveryCount int) (ProcessResult, error) {
	var m jobMessage
	if err := json.Unmarshal(body, &m); err != nil || m.TenantID == "" {
		// A message that cannot be read will never succeed; completing it
		// keeps it from blocking the queue. It is logged for inspection.
		s.logger().ErrorContext(ctx, "discard unreadable file-processing message", "error", err, "body_bytes", len(body))
		return ProcessResult{Kind: "invalid"}, nil
	}
	switch m.Kind {
	case jobProcess:
		status, err := s.Process(ctx, m.TenantID, m.FileID)
		if err != nil && deliveryCount >= queue.MaxDeliveryCount {
			if ferr := s.markFailed(ctx, m.TenantID, m.FileID, fmt.Sprintf("processing failed after %d attempts", deliveryCount)); ferr != nil {
				return ProcessResult{}, errors.Join(err, ferr)
			}
			return ProcessResult{Kind: m.Kind, FileID: m.FileID, Status: StatusFailed}, nil
		}
		return ProcessResult{Kind: m.Kind, FileID: m.FileID, Status: status}, err
	case jobDeleteFolder:
		return ProcessResult{Kind: m.Kind}, s.runDeleteFolder(ctx, m.TenantID, m.FolderID)
	default:
		s.logger().ErrorContext(ctx, "discard file-processing message of unknown kind", "kind", m.Kind, "tenant_id", m.TenantID)
		return ProcessResult{Kind: "invalid"}, nil
	}
}

// extraction is the result of one pass over a blob.
type extraction struct {
	size        int64
	sha256      string
	contentType string
	text        *string
	truncated   bool
	failure     string // non-empty: the file cannot be processed, for this reason
}

// Process computes the checksum, verifies the content type and extracts the
// text of one file, then records all of it in one transaction. The status
// moves from processing to ready or failed together with the text row and
// the file.processed event, or not at all. A file in any other status is
// left alone, so a redelivered message changes nothing. It returns the
// file's status afterwards.
func (s *Service) Process(ctx context.Context, tenantID, fileID string) (string, error) {
	if err := s.storage(ctx); err != nil {
		return "", err
	}
	var f File
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		f, err = getFile(ctx, tx, fileID, false)
		return err
	})
	if err != nil {
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Code == problem.CodeNotFound {
			return StatusDeleted, nil // deleted before it was processed
		}
		return "", err
	}
	if f.Status != StatusProcessing {
		return f.Status, nil
	}

	ex, err := s.extract(ctx, tenantID, f)
	if err != nil {
		return "", err
	}
	if s.beforeProcessCommit != nil {
		if err := s.beforeProcessCommit(fileID); err != nil {
			return "", err
		}
	}

	status := StatusReady
	if ex.failure != "" {
		status = StatusFailed
	}
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `
			UPDATE files SET status = $2, status_reason = $3, sha256 = coalesce($4, sha256), size = $5,
				content_type = $6, processed_at = $7, updated_at = $7
			WHERE id = $1 AND status = 'processing'`,
			fileID, status, ex.failure, nullIfEmpty(ex.sha256), ex.size, ex.contentType, now)
		if err != nil {
			return fmt.Errorf("record processing result: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // deleted or processed by another delivery meanwhile
		}
		if ex.text != nil {
			_, err = tx.Exec(ctx, `
				INSERT INTO file_texts (file_id, tenant_id, text, truncated, extracted_at) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (file_id) DO UPDATE SET text = EXCLUDED.text, truncated = EXCLUDED.truncated, extracted_at = EXCLUDED.extracted_at`,
				fileID, tenantID, *ex.text, ex.truncated, now)
			if err != nil {
				return fmt.Errorf("store extracted text: %w", err)
			}
		}
		out, err := getFile(ctx, tx, fileID, false)
		if err != nil {
			return err
		}
		data := events.FileProcessedData{FileData: eventData(out), StatusReason: ex.failure, HasText: ex.text != nil, Embed: out.Embed}
		_, err = events.Emit(ctx, tx, tenantID, EventProcessed, data)
		return err
	})
	if err != nil {
		return "", err
	}
	return status, nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Service) markFailed(ctx context.Context, tenantID, fileID, reason string) error {
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `UPDATE files SET status = 'failed', status_reason = $2, processed_at = $3, updated_at = $3
			WHERE id = $1 AND status = 'processing'`, fileID, reason, now)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		f, err := getFile(ctx, tx, fileID, false)
		if err != nil {
			return err
		}
		data := events.FileProcessedData{FileData: eventData(f), StatusReason: reason, Embed: f.Embed}
		_, err = events.Emit(ctx, tx, tenantID, EventProcessed, data)
		return err
	})
}

// extract reads the blob once: hashing it, sniffing its first bytes and
// keeping what text extraction needs (the first MaxTextBytes for text
// types, a temporary file for PDFs).
func (s *Service) extract(ctx context.Context, tenantID string, f File) (extraction, error) {
	body, err := s.Blob.Download(ctx, Container, BlobName(tenantID, f.ID), 0, 0)
	if errors.Is(err, blob.ErrNotFound) {
		return extraction{contentType: f.ContentType, size: f.Size, failure: "the stored content is missing"}, nil
	}
	if err != nil {
		return extraction{}, err
	}
	defer body.Close()

	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return extraction{}, fmt.Errorf("read blob of %s: %w", f.ID, err)
	}
	head = head[:n]
	ex := extraction{contentType: SniffContentType(head, f.Name)}
	kind := textKind(ex.contentType)

	h := sha256.New()
	h.Write(head)
	var textBuf bytes.Buffer
	sink := io.Discard
	var spool *os.File
	switch kind {
	case "pdf":
		if f.Size <= MaxPDFBytes {
			spool, err = os.CreateTemp("", "file-*.pdf")
			if err != nil {
				return extraction{}, fmt.Errorf("create temporary file for PDF: %w", err)
			}
			defer func() { _ = spool.Close(); _ = os.Remove(spool.Name()) }()
			sink = spool
		}
	case "":
	default:
		sink = &capWriter{w: &textBuf, left: MaxTextBytes + 1}
	}
	if _, err := sink.Write(head); err != nil {
		return extraction{}, fmt.Errorf("buffer head of %s: %w", f.ID, err)
	}
	rest, err := io.Copy(io.MultiWriter(h, sink), body)
	if err != nil {
		return extraction{}, fmt.Errorf("read blob of %s: %w", f.ID, err)
	}
	ex.size = int64(n) + rest
	ex.sha256 = hex.EncodeToString(h.Sum(nil))

	switch kind {
	case "":
	case "pdf":
		if spool == nil {
			ex.failure = fmt.Sprintf("PDF text is extracted up to %d bytes; this file has %d", MaxPDFBytes, ex.size)
			return ex, nil
		}
		text, truncated, err := pdfText(spool, ex.size)
		if err != nil {
			ex.failure = "the PDF could not be read: " + err.Error()
			return ex, nil
		}
		ex.text, ex.truncated = &text, truncated
	default:
		raw := textBuf.Bytes()
		truncated := len(raw) > MaxTextBytes
		if truncated {
			raw = raw[:MaxTextBytes]
		}
		text := decodeText(kind, raw)
		ex.text, ex.truncated = &text, truncated
	}
	return ex, nil
}

// textKind returns the text extractor for a media type: "text" (plain text,
// Markdown, CSV, JSON stored as they are), "html", "pdf", or "" for none.
func textKind(contentType string) string {
	switch mediaType(contentType) {
	case "text/plain", "text/markdown", "text/csv", "application/json":
		return "text"
	case "text/html":
		return "html"
	case "application/pdf":
		return "pdf"
	}
	return ""
}

func decodeText(kind string, raw []byte) string {
	if kind == "html" {
		return htmlText(raw)
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD")
}

// htmlText returns the text nodes of an HTML document, without script and
// style content, one block per line.
func htmlText(raw []byte) string {
	z := html.NewTokenizer(bytes.NewReader(raw))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(strings.ToValidUTF8(b.String(), "\uFFFD"))
		case html.StartTagToken:
			name, _ := z.TagName()
			if string(name) == "script" || string(name) == "style" {
				skip++
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style":
				skip = max(skip-1, 0)
			case "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br":
				b.WriteByte('\n')
			}
		case html.TextToken:
			if skip == 0 {
				if t := strings.TrimSpace(string(z.Text())); t != "" {
					if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
						b.WriteByte(' ')
					}
					b.WriteString(t)
				}
			}
		}
	}
}

// pdfText extracts the plain text of a PDF with github.com/ledongthuc/pdf,
// which may panic on malformed input; a panic becomes an error.
func pdfText(f *os.File, size int64) (text string, truncated bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed PDF: %v", p)
		}
	}()
	r, err := pdf.NewReader(f, size)
	if err != nil {
		return "", false, err
	}
	plain, err := r.GetPlainText()
	if err != nil {
		return "", false, err
	}
	raw, err := io.ReadAll(io.LimitReader(plain, MaxTextBytes+1))
	if err != nil {
		return "", false, err
	}
	truncated = len(raw) > MaxTextBytes
	if truncated {
		raw = raw[:MaxTextBytes]
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD"), truncated, nil
}

// capWriter keeps the first left bytes and discards the rest.
type capWriter struct {
	w    io.Writer
	left int
}

func (c *capWriter) Write(p []byte) (int, error) {
	if c.left > 0 {
		n := min(len(p), c.left)
		if _, err := c.w.Write(p[:n]); err != nil {
			return 0, err
		}
		c.left -= n
	}
	return len(p), nil
}
