package fs

import (
	"github.com/mailvault/mailvault/archive"
	"github.com/mailvault/mailvault/index"
)

// Source is what the mount reads: the catalog and the blobs. The
// repository satisfies it.
type Source interface {
	Servers() ([]string, error)
	Snapshots(server string) ([]index.Snapshot, error)
	Groups(server string) ([]string, error)
	Users(server, group string, at int64) ([]index.User, error)
	Folders(server, group, user string, t int64) ([]*index.Folder, error)
	Messages(id index.ListingID) ([]index.Message, error)
	Controls(id index.ListingID) ([]archive.File, error)
	ReadBlob(h archive.Hash) ([]byte, error)
}
