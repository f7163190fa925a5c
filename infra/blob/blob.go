package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Azurite's well-known development account. The key is public, printed in
// Microsoft's Azurite documentation, and only ever used against a loopback
// address in local mode.
const (
	AzuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	// AzuriteURL is the Blob endpoint scripts/lib/services.sh starts Azurite on.
	AzuriteURL = "http://127.0.0.1:10000/" + AzuriteAccount
)

// Upload buffering: UploadStream holds at most StreamConcurrency buffers of
// StreamBlockSize bytes, so one upload uses about 16 MiB whatever the file size.
const (
	StreamBlockSize   = 4 << 20
	StreamConcurrency = 4
)

// ErrNotFound is returned when a blob or container does not exist.
var ErrNotFound = errors.New("blob: not found")

// Options configures Open.
type Options struct {
	// AccountURL is the Blob service URL (BLOB_ACCOUNT_URL). Empty means
	// Azurite at AzuriteURL.
	AccountURL string
	// Local allows the Azurite shared key (APP_ENV=local). It is used only when
	// AccountURL is empty or names a loopback host.
	Local bool
	// Credential is the managed-identity credential used everywhere else.
	Credential azcore.TokenCredential
}

// Client is one storage account's Blob service.
type Client struct {
	svc *azblob.Client
	url string
}

// Open returns a client for opts.AccountURL. It uses the Azurite shared key
// only in local mode against a loopback address; otherwise it needs
// opts.Credential (Entra ID), and fails without one.
func Open(opts Options) (*Client, error) {
	accountURL := opts.AccountURL
	if accountURL == "" {
		accountURL = AzuriteURL
	}
	clientOpts := &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
		Retry: policy.RetryOptions{MaxRetries: 3},
	}}

	if opts.Local && isLoopback(accountURL) {
		key, err := azblob.NewSharedKeyCredential(AzuriteAccount, azuriteKey)
		if err != nil {
			return nil, fmt.Errorf("create Azurite shared key: %w", err)
		}
		svc, err := azblob.NewClientWithSharedKeyCredential(accountURL, key, clientOpts)
		if err != nil {
			return nil, fmt.Errorf("open Azurite blob client at %s: %w", accountURL, err)
		}
		return &Client{svc: svc, url: accountURL}, nil
	}
	if opts.Credential == nil {
		return nil, fmt.Errorf("open blob client at %s: a managed-identity credential is required outside local mode against Azurite", accountURL)
	}
	svc, err := azblob.NewClient(accountURL, opts.Credential, clientOpts)
	if err != nil {
		return nil, fmt.Errorf("open blob client at %s: %w", accountURL, err)
	}
	return &Client{svc: svc, url: accountURL}, nil
}

func isLoopback(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns the account URL.
func (c *Client) URL() string { return c.url }

// EnsureContainers creates every container in Containers that is missing.
// Bicep creates them in Azure; locally and in tests this does.
func (c *Client) EnsureContainers(ctx context.Context) error {
	for _, name := range Containers {
		_, err := c.svc.CreateContainer(ctx, name, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
			return fmt.Errorf("create container %s at %s: %w", name, c.url, err)
		}
	}
	return nil
}

func (c *Client) block(containerName, name string) *blockblob.Client {
	return c.svc.ServiceClient().NewContainerClient(containerName).NewBlockBlobClient(name)
}

// Uploaded describes a committed blob.
type Uploaded struct {
	ETag string
}

// UploadStream writes r to the blob as a block blob with bounded buffers
// (StreamBlockSize × StreamConcurrency). A read error from r aborts the
// upload without committing, so no blob appears.
func (c *Client) UploadStream(ctx context.Context, containerName, name string, r io.Reader, contentType string) (Uploaded, error) {
	res, err := c.block(containerName, name).UploadStream(ctx, r, &blockblob.UploadStreamOptions{
		BlockSize: StreamBlockSize, Concurrency: StreamConcurrency,
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &contentType},
	})
	if err != nil {
		return Uploaded{}, fmt.Errorf("upload blob %s/%s: %w", containerName, name, err)
	}
	return Uploaded{ETag: etag(res.ETag)}, nil
}

// StageBlock stages one block of a block blob. body must be seekable so the
// SDK can retry the request.
func (c *Client) StageBlock(ctx context.Context, containerName, name, blockID string, body io.ReadSeekCloser) error {
	if _, err := c.block(containerName, name).StageBlock(ctx, blockID, body, nil); err != nil {
		return fmt.Errorf("stage block of blob %s/%s: %w", containerName, name, err)
	}
	return nil
}

// UncommittedBlocks returns the size of each uncommitted block by block id.
func (c *Client) UncommittedBlocks(ctx context.Context, containerName, name string) (map[string]int64, error) {
	res, err := c.block(containerName, name).GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return map[string]int64{}, nil
		}
		return nil, fmt.Errorf("get block list of blob %s/%s: %w", containerName, name, err)
	}
	out := map[string]int64{}
	for _, b := range res.UncommittedBlocks {
		if b.Name != nil && b.Size != nil {
			out[*b.Name] = *b.Size
		}
	}
	return out, nil
}

// CommitBlocks commits the staged blocks, in order, as the blob's content.
func (c *Client) CommitBlocks(ctx context.Context, containerName, name string, blockIDs []string, contentType string) (Uploaded, error) {
	res, err := c.block(containerName, name).CommitBlockList(ctx, blockIDs, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &contentType},
	})
	if err != nil {
		return Uploaded{}, fmt.Errorf("commit block list of blob %s/%s: %w", containerName, name, err)
	}
	return Uploaded{ETag: etag(res.ETag)}, nil
}

// Download opens the bytes [offset, offset+count) of the blob; count 0 means
// to the end. The caller closes the reader. A missing blob is ErrNotFound.
func (c *Client) Download(ctx context.Context, containerName, name string, offset, count int64) (io.ReadCloser, error) {
	res, err := c.block(containerName, name).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: count},
	})
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
			return nil, fmt.Errorf("download blob %s/%s: %w", containerName, name, ErrNotFound)
		}
		return nil, fmt.Errorf("download blob %s/%s: %w", containerName, name, err)
	}
	return res.Body, nil
}

// Size returns the blob's size in bytes, or ErrNotFound.
func (c *Client) Size(ctx context.Context, containerName, name string) (int64, error) {
	res, err := c.block(containerName, name).GetProperties(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
			return 0, fmt.Errorf("get properties of blob %s/%s: %w", containerName, name, ErrNotFound)
		}
		return 0, fmt.Errorf("get properties of blob %s/%s: %w", containerName, name, err)
	}
	if res.ContentLength == nil {
		return 0, nil
	}
	return *res.ContentLength, nil
}

// Delete removes the blob. Deleting a blob that does not exist succeeds, so
// clean-up can repeat after a crash.
func (c *Client) Delete(ctx context.Context, containerName, name string) error {
	_, err := c.block(containerName, name).Delete(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("delete blob %s/%s: %w", containerName, name, err)
	}
	return nil
}

// Exists reports whether the blob exists.
func (c *Client) Exists(ctx context.Context, containerName, name string) (bool, error) {
	_, err := c.Size(ctx, containerName, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ContainerClient exposes the SDK client of one container, for benchmarks
// that compare the plugin with a direct SDK upload.
func (c *Client) ContainerClient(name string) *container.Client {
	return c.svc.ServiceClient().NewContainerClient(name)
}

func etag(e *azcore.ETag) string {
	if e == nil {
		return ""
	}
	return strings.Trim(string(*e), `"`)
}
