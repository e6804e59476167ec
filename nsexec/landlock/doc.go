// Package landlock turns fence's write policy into a Landlock ruleset and
// enforces it on the calling thread of the init stage, from which the command
// is started and inherits it.
//
// Landlock here is defense in depth: the mount tree already enforces the
// policy. Reads are granted everywhere (the mount tree hides what must not be
// read); writes only in the listed hierarchies; device ioctls (IOCTL_DEV)
// only under /dev, so terminals and openpty keep working on kernels >= 6.10.
// The ABI 6 scopes (abstract unix sockets, signals) are applied where the
// kernel has them. The package must not be used in the supervisor process:
// Landlock can never be lifted once applied.
package landlock
