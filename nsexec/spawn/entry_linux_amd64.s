// Written for fence; see entry_linux_amd64.go for what this does and why.

#include "textflag.h"
#include "go_asm.h"

#define SYS_close 3
#define SYS_poll 7
#define SYS_rt_sigaction 13
#define SYS_socketpair 53
#define SYS_clone 56
#define SYS_execve 59
#define SYS_exit 60
#define SYS_capget 125
#define SYS_capset 126
#define SYS_prctl 157
#define PR_SET_TIMERSLACK 29
#define PR_GET_TIMERSLACK 30
#define SYS_clock_gettime 228
#define SYS_sched_setaffinity 203
#define SYS_sched_getaffinity 204
#define SYS_getcpu 309
#define SYS_futex 202
#define SYS_dup3 292

// The strings the init stage is started with: the path, its argv
// (InitArg0, AskNetArg) and its environment (initEnv). The tests compare
// what the init stage gets with those Go values.
DATA entryPath<>+0(SB)/8, $"/proc/se"
DATA entryPath<>+8(SB)/8, $"lf/exe\x00\x00"
GLOBL entryPath<>(SB), RODATA|NOPTR, $16
DATA entryArg0<>+0(SB)/8, $"fence-in"
DATA entryArg0<>+8(SB)/8, $"it\x00\x00\x00\x00\x00\x00"
GLOBL entryArg0<>(SB), RODATA|NOPTR, $16
DATA entryProbe<>+0(SB)/8, $"fence-pr"
DATA entryProbe<>+8(SB)/8, $"obe\x00\x00\x00\x00\x00"
GLOBL entryProbe<>(SB), RODATA|NOPTR, $16
DATA entryDashes<>+0(SB)/8, $"--\x00\x00\x00\x00\x00\x00"
GLOBL entryDashes<>(SB), RODATA|NOPTR, $8
DATA entryDashC<>+0(SB)/8, $"-c\x00\x00\x00\x00\x00\x00"
GLOBL entryDashC<>(SB), RODATA|NOPTR, $8
// The subcommands (cmd/fence's, and cobra's own), which run no sandbox.
DATA entrySubConfig<>+0(SB)/8, $"config\x00\x00"
GLOBL entrySubConfig<>(SB), RODATA|NOPTR, $8
DATA entrySubImport<>+0(SB)/8, $"import\x00\x00"
GLOBL entrySubImport<>(SB), RODATA|NOPTR, $8
DATA entrySubCompletion<>+0(SB)/8, $"completi"
DATA entrySubCompletion<>+8(SB)/8, $"on\x00\x00\x00\x00\x00\x00"
GLOBL entrySubCompletion<>(SB), RODATA|NOPTR, $16
DATA entrySubHelp<>+0(SB)/8, $"help\x00\x00\x00\x00"
GLOBL entrySubHelp<>(SB), RODATA|NOPTR, $8
DATA entrySubComplete<>+0(SB)/8, $"__comple"
DATA entrySubComplete<>+8(SB)/8, $"te\x00\x00\x00\x00\x00\x00"
GLOBL entrySubComplete<>(SB), RODATA|NOPTR, $16
DATA entrySubCompleteNoDesc<>+0(SB)/8, $"__comple"
DATA entrySubCompleteNoDesc<>+8(SB)/8, $"teNoDesc"
DATA entrySubCompleteNoDesc<>+16(SB)/8, $"\x00\x00\x00\x00\x00\x00\x00\x00"
GLOBL entrySubCompleteNoDesc<>(SB), RODATA|NOPTR, $24
DATA entryArg1<>+0(SB)/8, $"ask\x00\x00\x00\x00\x00"
GLOBL entryArg1<>(SB), RODATA|NOPTR, $8
DATA entryEnv0<>+0(SB)/8, $"GOMAXPRO"
DATA entryEnv0<>+8(SB)/8, $"CS=2\x00\x00\x00\x00"
GLOBL entryEnv0<>(SB), RODATA|NOPTR, $16
DATA entryArgv<>+0(SB)/8, $entryArg0<>(SB)
DATA entryArgv<>+8(SB)/8, $entryArg1<>(SB)
DATA entryArgv<>+16(SB)/8, $0
GLOBL entryArgv<>(SB), RODATA|NOPTR, $24
DATA entryEnvv<>+0(SB)/8, $entryEnv0<>(SB)
DATA entryEnvv<>+8(SB)/8, $0
GLOBL entryEnvv<>(SB), RODATA|NOPTR, $16

// entry is fence's ELF entry point (LDFlags). The kernel starts it with the
// stack pointer at argc, argv[0] above it, which the runtime's entry reads
// after this: the calls below push their return addresses under it and
// pop them again, and the runtime's entry reads no register.
TEXT ·entry(SB),NOSPLIT|NOFRAME,$0
	// The binary's read-only data first (internal/prefault): the
	// supervisor's start is the longer of the two once the init stage
	// starts this early.
	CALL	fence_prefault_populate(SB)
	// Before the runtime installs its handlers over them.
	CALL	entryDispositions<>(SB)
	MOVQ	0(SP), R12	// argc
	LEAQ	8(SP), R13	// argv
	CALL	entrySpawn<>(SB)
	JMP	_rt0_amd64_linux(SB)

// DISPOSITION sets bit n of entryIgnored if signal n's action is SIG_IGN:
// rt_sigaction(n, NULL, &entrySigOld, 8), whose handler word is 1 then
// (left 0 where the call fails).
#define DISPOSITION(n) \
	MOVQ	$0, ·entrySigOld(SB); \
	MOVQ	$n, DI; \
	XORQ	SI, SI; \
	LEAQ	·entrySigOld(SB), DX; \
	MOVQ	$8, R10; \
	MOVQ	$SYS_rt_sigaction, AX; \
	SYSCALL; \
	XORQ	CX, CX; \
	CMPQ	·entrySigOld(SB), $1; \
	SETEQ	CL; \
	SHLQ	$n, CX; \
	ORQ	CX, ·entryIgnored(SB)

// entryDispositions records which of IgnorableSignals fence inherited
// ignored (entryIgnored), before the runtime's handlers replace the
// ignore: the runtime keeps an inherited SIG_IGN for SIGHUP and SIGINT
// only. The numbers are amd64's, as IgnorableSignals lists them.
TEXT entryDispositions<>(SB),NOSPLIT|NOFRAME,$0
	DISPOSITION(3)	// SIGQUIT
	DISPOSITION(10)	// SIGUSR1
	DISPOSITION(12)	// SIGUSR2
	DISPOSITION(13)	// SIGPIPE
	DISPOSITION(14)	// SIGALRM
	DISPOSITION(15)	// SIGTERM
	RET

// streq sets AX to 1 if the NUL-terminated strings at SI and DI are equal,
// else to 0. It clobbers BX, SI and DI.
TEXT streq<>(SB),NOSPLIT|NOFRAME,$0
next:
	MOVBLZX	(SI), AX
	MOVBLZX	(DI), BX
	CMPL	AX, BX
	JNE	differ
	TESTL	AX, AX
	JEQ	same
	INCQ	SI
	INCQ	DI
	JMP	next
differ:
	XORL	AX, AX
	RET
same:
	MOVL	$1, AX
	RET

// STREQ compares the string that the pointer at ptr points to with the one
// at sym (streq); a JNE after it jumps when they are equal.
#define STREQ(ptr, sym) \
	MOVQ	ptr, SI; \
	LEAQ	sym, DI; \
	CALL	streq<>(SB); \
	TESTL	AX, AX

// CLOSE32 is close(the int32 at sym); the result is ignored.
#define CLOSE32(sym) \
	MOVLQSX	sym, DI; \
	MOVQ	$SYS_close, AX; \
	SYSCALL

// NOW is clock_gettime(CLOCK_MONOTONIC, the timespec at sym).
#define NOW(sym) \
	MOVQ	$1, DI; \
	LEAQ	sym, SI; \
	MOVQ	$SYS_clock_gettime, AX; \
	SYSCALL

// entrySpawn starts the init stage as spawn's vforkChild does (the same
// namespaces, capabilities, descriptors and Pdeathsig), with R12 = argc and
// R13 = argv, and leaves the result in entryPid and entryFDs[0] (see
// entry_linux_amd64.go). It spawns only for a command line whose first
// argument is a command (fence cmd args: not a flag, not a subcommand) or
// that has "--" or "-c" after argv[0] (fence -- cmd, fence -t code -- cmd,
// fence -c 'cmd'); not for an init stage or a probe (argv[0] is theirs).
// Where a step before the clone fails, nothing is spawned; where one of
// the child's fails, it exits, and FromEntry finds that: either way the
// spawn is left to package early's init, which reports errors. (fence -t
// code cmd, flags first without "--", is spawned there too; fence
// --version is not spawned at all.)
TEXT entrySpawn<>(SB),NOSPLIT|NOFRAME,$0
	// Nothing to spawn for without an argument; and argv[0] may be NULL
	// when argc is 0 (kernels before 5.18 allowed that).
	CMPQ	R12, $2
	JLT	done
	STREQ(0(R13), entryArg0<>(SB))
	JNE	done
	STREQ(0(R13), entryProbe<>(SB))
	JNE	done
	// fence cmd args: argv[1] neither empty, nor a flag, nor a
	// subcommand (early.Guess asks the same of the first operand).
	MOVQ	8(R13), SI
	MOVBLZX	(SI), AX
	TESTL	AX, AX
	JEQ	flags
	CMPL	AX, $0x2d	// '-'
	JEQ	flags
	STREQ(8(R13), entrySubConfig<>(SB))
	JNE	done
	STREQ(8(R13), entrySubImport<>(SB))
	JNE	done
	STREQ(8(R13), entrySubCompletion<>(SB))
	JNE	done
	STREQ(8(R13), entrySubHelp<>(SB))
	JNE	done
	STREQ(8(R13), entrySubComplete<>(SB))
	JNE	done
	STREQ(8(R13), entrySubCompleteNoDesc<>(SB))
	JNE	done
	JMP	spawn
flags:
	// R14 counts down the arguments after argv[0], R15 walks them.
	MOVQ	R12, R14
	DECQ	R14
	LEAQ	8(R13), R15
scan:
	CMPQ	R14, $0
	JLE	done
	STREQ(0(R15), entryDashes<>(SB))
	JNE	spawn
	STREQ(0(R15), entryDashC<>(SB))
	JNE	spawn
	ADDQ	$8, R15
	DECQ	R14
	JMP	scan
spawn:
	// The control socket: socketpair(AF_UNIX, SOCK_SEQPACKET|SOCK_CLOEXEC).
	MOVQ	$1, DI
	MOVQ	$0x80005, SI
	XORQ	DX, DX
	LEAQ	·entryFDs(SB), R10
	MOVQ	$SYS_socketpair, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	done
	// With fd 0, 1 or 2 closed, a socket took its number and would become
	// the init stage's stdio: left to the Go spawn, which reports it.
	CMPL	·entryFDs+0(SB), $3
	JLT	closeboth
	CMPL	·entryFDs+4(SB), $3
	JLT	closeboth
	NOW(·entryTimes+0(SB))
	// clone(CloneFlags|CLONE_VM|CLONE_CHILD_CLEARTID|SIGCHLD,
	// entryChildStack's top, 0, &entryChildTid, 0): the child runs in
	// this memory, on a stack of its own, until it execs or exits, while
	// this thread goes on to start the runtime (see entryCloneFlags). The
	// kernel clears entryChildTid and wakes its futex at that exec or
	// exit: FromEntry waits for that before it reads entryErrno. Set
	// before the clone, so that a reader never sees the child done
	// before it began. The child pushes nothing, and has no signal
	// handler that could (the runtime installs them later, in this
	// process only: the child has its own copy of the handlers).
	MOVL	$1, ·entryChildTid(SB)
	MOVQ	$const_entryCloneFlags, DI
	LEAQ	·entryChildStack+const_entryChildStackSize(SB), SI
	XORQ	DX, DX
	LEAQ	·entryChildTid(SB), R10
	XORQ	R8, R8
	MOVQ	$SYS_clone, AX
	SYSCALL
	TESTQ	AX, AX
	JEQ	child
	JLT	cloneFailed
	MOVQ	AX, ·entryPid(SB)
	CALL	entryPlaceChild<>(SB)
	NOW(·entryTimes+16(SB))
	// The child has a copy of the descriptor table (no CLONE_FILES):
	// its end is closed here only.
	CLOSE32(·entryFDs+4(SB))
	// sysmon and the other threads the runtime starts from this thread
	// inherit its timer slack: entrySlackNs until package early's init
	// gives this thread entryOrigSlack back (AdoptEntrySlack). The
	// results are not checked: a thread whose slack cannot change
	// (SCHED_FIFO, SCHED_RR) keeps its own, which costs time only.
	MOVQ	$PR_GET_TIMERSLACK, DI
	MOVQ	$SYS_prctl, AX
	SYSCALL
	// Only with the slack to give back (a negative result is an errno).
	TESTQ	AX, AX
	JLE	slackdone
	MOVQ	AX, ·entryOrigSlack(SB)
	MOVQ	$PR_SET_TIMERSLACK, DI
	MOVQ	$const_entrySlackNs, SI
	MOVQ	$SYS_prctl, AX
	SYSCALL
slackdone:
	RET
cloneFailed:
	MOVL	$0, ·entryChildTid(SB)
closeboth:
	CLOSE32(·entryFDs+0(SB))
	CLOSE32(·entryFDs+4(SB))
done:
	RET

// The child, in the new namespaces with every capability of the new user
// namespace until it execs; its ids are not mapped yet (FromEntry maps
// them), so exec keeps only ambient capabilities: initCaps are raised,
// which must be inheritable first.
child:
	LEAQ	·entryCapHeader(SB), DI
	LEAQ	·entryCapData(SB), SI
	MOVQ	$SYS_capget, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	childfail
	ORL	$const_entryCapMask, ·entryCapData+8(SB)	// data[0].inheritable
	LEAQ	·entryCapHeader(SB), DI
	LEAQ	·entryCapData(SB), SI
	MOVQ	$SYS_capset, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	childfail

#define AMBIENT(c) \
	MOVQ	$47, DI; \
	MOVQ	$2, SI; \
	MOVQ	$c, DX; \
	XORQ	R10, R10; \
	XORQ	R8, R8; \
	MOVQ	$SYS_prctl, AX; \
	SYSCALL; \
	TESTQ	AX, AX; \
	JNE	childfail

	// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c) for each of initCaps.
	AMBIENT(const_capSysAdmin)
	AMBIENT(const_capNetAdmin)
	AMBIENT(const_capNetBindService)
	AMBIENT(const_capSetpcap)
	AMBIENT(const_capDacOverride)
	AMBIENT(const_capSysChroot)
	AMBIENT(const_capSysPtrace)
	// The supervisor's end of the control socket, which this copy of the
	// descriptor table holds too (close-on-exec): closed now, so that
	// the supervisor's copy alone keeps it open. Before the prctl below,
	// and the look after it.
	CLOSE32(·entryFDs+0(SB))
	// prctl(PR_SET_PDEATHSIG, SIGKILL): tied to the thread that cloned,
	// the supervisor's main thread, which lives as long as it does.
	MOVQ	$1, DI
	MOVQ	$9, SI
	MOVQ	$SYS_prctl, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	childfail
	// A supervisor whose last thread exited before that prctl (fence
	// killed in its first moments) sends no signal, and this child
	// waited for good below (entryPlace left at 1), holding fence's
	// stdio. Its descriptors went before that exit: its end of the
	// socket is closed, and poll says POLLHUP on this one. Gone later,
	// it sends the signal. poll({entryFDs[1], 0}, 1, 0): 0 if it lives.
	MOVL	·entryFDs+4(SB), AX
	MOVL	AX, ·entryPollFD+0(SB)
	MOVL	$0, ·entryPollFD+4(SB)
	LEAQ	·entryPollFD(SB), DI
	MOVQ	$1, SI
	XORQ	DX, DX
	MOVQ	$SYS_poll, AX
	SYSCALL
	TESTQ	AX, AX
	JLT	childfail
	JNE	childexit	// nobody is left to read entryErrno
	// The control socket becomes fd 3 (ControlFD), without close-on-exec
	// (dup3 of another fd clears it); stdin, stdout and stderr are
	// fence's own. The child's end is never fd 3 already: socketpair
	// takes the lowest free numbers in order, so the other end would then
	// be below 3, which the parent refused above.
	MOVLQSX	·entryFDs+4(SB), DI
	MOVQ	$const_ControlFD, SI
	XORQ	DX, DX
	MOVQ	$SYS_dup3, AX
	SYSCALL
	TESTQ	AX, AX
	JLT	childfail
	// The init stage's threads are born with entrySlackNs too; its
	// default slack stays this thread's current one, the caller's,
	// which Init restores first (AdoptEntrySlack). Not checked, as above.
	MOVQ	$PR_SET_TIMERSLACK, DI
	MOVQ	$const_entrySlackNs, SI
	MOVQ	$SYS_prctl, AX
	SYSCALL
	// Claim entryPlace (0 → 3), or, the supervisor moving this process
	// (1), wait until it is done (2): see the clone above.
	MOVL	$0, AX
	MOVL	$3, CX
	LOCK
	CMPXCHGL	CX, ·entryPlace(SB)
	JEQ	childexec
childwait:
	CMPL	·entryPlace(SB), $1
	JNE	childexec
	// futex(&entryPlace, FUTEX_WAIT_PRIVATE, 1, NULL): EAGAIN once it
	// changed, EINTR on a signal; either way, look again.
	LEAQ	·entryPlace(SB), DI
	MOVQ	$128, SI
	MOVQ	$1, DX
	XORQ	R10, R10
	MOVQ	$SYS_futex, AX
	SYSCALL
	JMP	childwait
childexec:
	LEAQ	entryPath<>(SB), DI
	LEAQ	entryArgv<>(SB), SI
	LEAQ	entryEnvv<>(SB), DX
	MOVQ	$SYS_execve, AX
	SYSCALL
childfail:
	NEGQ	AX
	MOVQ	AX, ·entryErrno(SB)
childexit:
	MOVQ	$253, DI
	MOVQ	$SYS_exit, AX
	SYSCALL
	JMP	childexit

// func entryCheck(argc uintptr, argv **byte)
//
// entryCheck runs entrySpawn with argc and argv, for the tests of the
// command lines it must not spawn for. Never with one it spawns for: the
// clone would copy this process's signal handlers into the child, whose
// handlers must run on no stack of the parent's.
TEXT ·entryCheck(SB),NOSPLIT,$0-16
	MOVQ	argc+0(FP), R12
	MOVQ	argv+8(FP), R13
	CALL	entrySpawn<>(SB)
	RET

// SETCHILDCPUS is sched_setaffinity(entryPid, R15 bytes, the mask at
// mask), its result stored at res.
#define SETCHILDCPUS(mask, res) \
	MOVQ	·entryPid(SB), DI; \
	MOVQ	R15, SI; \
	LEAQ	mask, DX; \
	MOVQ	$SYS_sched_setaffinity, AX; \
	SYSCALL; \
	MOVQ	AX, res

// entryPlaceChild moves the child whose pid is entryPid off this thread's
// CPU (entrySpawn calls it right after the clone; entryPlaceCheck, for
// the tests, otherwise). It clobbers AX, BX, CX, DX, SI, DI, R8-R10, R15.
TEXT entryPlaceChild<>(SB),NOSPLIT|NOFRAME,$0
	// Where the child runs: anywhere but this CPU, for a start. A kernel
	// that packs tasks onto few CPUs (a VM's, as on the machines fence is
	// measured on) queues the new child behind this thread on this CPU,
	// where it waited ~0.6 ms while another CPU was idle. Its allowed
	// CPUs are narrowed to all of this thread's but this one, which
	// moves it if it is here (a kernel that placed it elsewhere already
	// sees no change), and then given back whole. Both before its exec,
	// or neither: its threads and the command inherit what this process
	// was allowed. The child claims entryPlace (0 → 3) before its exec;
	// this thread claims it first (0 → 1), or leaves the child alone,
	// and the child waits while it is 1 (the futex below). Best effort: a
	// step that fails leaves the kernel's placement (entryPlaced says
	// what happened: EntryPlacement). A cost: the init stage's CPUs are
	// then set explicitly, to those this process may use now, so that a
	// CPU brought online later, or added to the cgroup's cpuset later, is
	// not added to the sandbox's as it would be to a process whose CPUs
	// were never set.
	MOVL	$0, AX
	MOVL	$1, CX
	LOCK
	CMPXCHGL	CX, ·entryPlace(SB)
	JNE	placedSkip	// the child is at its exec already
	// getcpu(&entryCPU, NULL, NULL)
	LEAQ	·entryCPU(SB), DI
	XORQ	SI, SI
	XORQ	DX, DX
	MOVQ	$SYS_getcpu, AX
	SYSCALL
	TESTQ	AX, AX
	JNE	placed
	// sched_getaffinity(0, len, entryMask): the bytes copied in AX.
	XORQ	DI, DI
	MOVQ	$const_entryMaskBytes, SI
	LEAQ	·entryMask(SB), DX
	MOVQ	$SYS_sched_getaffinity, AX
	SYSCALL
	TESTQ	AX, AX
	JLE	placed
	MOVQ	AX, R15
	// entryAway = entryMask less entryCPU; BX ORs what is left.
	LEAQ	·entryMask(SB), R8
	LEAQ	·entryAway(SB), R9
	XORQ	BX, BX
	XORQ	CX, CX
away:
	MOVQ	(R8)(CX*8), DX
	MOVQ	DX, (R9)(CX*8)
	INCQ	CX
	CMPQ	CX, $(const_entryMaskBytes/8)
	JLT	away
	MOVLQZX	·entryCPU(SB), CX
	CMPQ	CX, $(const_entryMaskBytes*8)
	JGE	placed
	MOVQ	CX, DX
	SHRQ	$6, DX
	ANDQ	$63, CX
	MOVQ	(R9)(DX*8), SI
	BTRQ	CX, SI
	MOVQ	SI, (R9)(DX*8)
	XORQ	CX, CX
left:
	ORQ	(R9)(CX*8), BX
	INCQ	CX
	CMPQ	CX, $(const_entryMaskBytes/8)
	JLT	left
	TESTQ	BX, BX
	JEQ	placed	// no other CPU
	// sched_setaffinity(child, len, entryAway), then entryMask; their
	// results in entryPlaced[0] and [1].
	SETCHILDCPUS(·entryAway(SB), ·entryPlaced+0(SB))
	SETCHILDCPUS(·entryMask(SB), ·entryPlaced+8(SB))
placed:
	// Done (2), and the child woken if it waits: futex(&entryPlace,
	// FUTEX_WAKE_PRIVATE, 1).
	MOVL	$2, AX
	XCHGL	AX, ·entryPlace(SB)
	LEAQ	·entryPlace(SB), DI
	MOVQ	$129, SI
	MOVQ	$1, DX
	XORQ	R10, R10
	MOVQ	$SYS_futex, AX
	SYSCALL
placedSkip:
	RET

// func entryPlaceCheck()
//
// entryPlaceCheck runs entryPlaceChild from Go, for the tests: they set
// entryPid and entryPlace first.
TEXT ·entryPlaceCheck(SB),NOSPLIT,$0
	CALL	entryPlaceChild<>(SB)
	RET
