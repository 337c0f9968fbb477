// Package teststore builds realistic Dovecot Maildir++ stores for tests and
// benchmarks, from the SpamAssassin corpus (package corpus) and with a real
// Dovecot: the message files are written here, deterministically from a seed,
// and then doveadm (run without a daemon) indexes them, writes
// dovecot-uidlist, subscriptions and keywords, and renames files when it sets
// keywords — so a store holds what a live server's disk holds.
//
// Layout: Root/<domain>/<local>/Maildir, i.e. the mail_location template
// "maildir:Root/%d/%n/Maildir", with the Maildir++ folders
//
//	INBOX         Maildir/{cur,new,tmp}
//	Sent          Maildir/.Sent
//	Trash         Maildir/.Trash
//	Archive/2002  Maildir/.Archive.2002
//	Lists/fork    Maildir/.Lists.fork
//	Entwürfe      Maildir/.Entw&APw-rfe (modified UTF-7)
//
// What a store holds, so that tests meet the real cases:
//   - users in two domains (example.org, example.net);
//   - Dovecot file names <time>.M<usec>P<pid>.<host>,S=<size>,W=<vsize>:2,<flags>
//     with a mix of flags, and a few messages in new/ without ":2,";
//   - mtimes that are the delivery time (from the Date header);
//   - ~30 % of the files from deliveries to several users of a domain, whose
//     copies differ only in their Return-Path and Delivered-To lines;
//   - ~5 % of a user's files hard-linked into Archive/2002 (IMAP COPY);
//   - corpus messages reused for further deliveries get a new Message-ID and
//     Date and a light body change, so bodies are not verbatim duplicates;
//   - keywords ($Forwarded, Junk) set by doveadm, so dovecot-keywords exists
//     and file names carry keyword letters;
//   - dovecot-uidlist with real UIDVALIDITY, GUID and UIDs, index files, and
//     subscriptions.
//
// The message files are a function of Options alone; what Dovecot writes
// (UIDVALIDITY, GUIDs, index files) is not.
//
// Ownership: run as root, the store belongs to the "mail" user and the
// configuration says mail_uid = mail, as on a server. Run as another user, the
// store and mail_uid are that user's, since only root can give files away.
//
// doveadm needs no daemon: it is run with USER and HOME set and without -u,
// so it does no auth lookup (doveadm -u would need the auth-userdb socket of a
// running dovecot). Use Store.Doveadm.
package teststore
