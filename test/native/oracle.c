/*
 * Native oracle: runs user-mode x86-64 code sequences on this machine's CPU, from given
 * registers, RFLAGS and memory, and reports the final registers, RFLAGS and memory, or the
 * signal a fault raised. Built and driven by test/support/native-cpu.ts; one process runs a
 * whole batch of cases (no fork per case).
 *
 * A case runs in 64-bit mode or in 32-bit compatibility mode. For the latter the code is
 * entered by a far jump to the kernel's 32-bit user code selector (__USER32_CS, 0x23) with
 * DS/ES loaded with the user data selector (__USER_DS, 0x2b; a null DS faults outside 64-bit
 * mode), and leaves by a far jump back to the 64-bit selector (__USER_CS, 0x33). Everything
 * the code touches lies below 4 GiB, as 32-bit addressing requires. A compatibility-mode case
 * may instead ask for DS and ES to be an LDT data segment (installed with modify_ldt) whose
 * base is the data area and whose limit is its last byte, so that 16-bit addresses (which
 * reach only 64 KiB) land in the data area; SS stays flat.
 *
 * Fixed addresses (identical in the emulator, so absolute and register-based addresses mean
 * the same thing in both worlds):
 *   code  at 0x40000000, 8 KiB RWX: the case's code (<= 4 KiB), then a stub
 *         `jmp qword ptr [rip+d]` whose target quadword (vmx_exit) is the next 8-aligned
 *         one (aligned so that code that set RFLAGS.AC does not fault on it), then 0xCC
 *         (INT3) to the end. In compatibility mode the code is followed instead by
 *         `jmp far cs:[abs32]` (CS: DS may not be flat) through an 8-aligned m16:32 pointer
 *         to 0x33:(64-bit stub as above), since vmx_exit itself may lie above 4 GiB;
 *   data  at 0x50000000, 64 KiB RW: the case's data image, then zeros.
 * Each region is followed by an inaccessible guard page. Both are rewritten for every case.
 *
 * Input (stdin), all integers little-endian:
 *   header:   u32 magic 0x324e5856 ("VXN2"), u32 number of cases
 *   per case: u64 regs[16]    (SDM order: rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15)
 *             u64 rflags      (only CF PF AF ZF SF DF OF are taken: mask 0xcd5)
 *             u32 data_len    (<= 65536)
 *             u32 code_len    (<= 4096)
 *             u32 mode        (64: 64-bit mode; 32: compatibility mode, registers enter
 *                              with their full 64-bit values, their upper halves come out
 *                              as the CPU leaves them: the SDM calls them undefined)
 *             u32 segments    (0: DS/ES flat; 1: DS/ES the LDT data segment over the data
 *                              area, selector 0x7; only with mode 32)
 *             u8  data[data_len]
 *             u8  code[code_len]
 *
 * Output (stdout):
 *   header:   u32 magic 0x31525856 ("VXR1"), u32 number of cases
 *   per case: u32 status      (0: the code ran to its end; else the signal number;
 *                              SIGVTALRM (26) when the case used more than ~0.25 s of CPU;
 *                              SIGSYS (31) when it made a system call, which is refused)
 *             u32 trapno      (CPU exception vector from the signal context, 0 if none)
 *             u64 error code  (from the signal context, 0 if none)
 *             i64 fault RIP - 0x40000000 (0 if status is 0; for traps such as INT3 the
 *                              RIP after the instruction, as the CPU reports it)
 *             u64 fault address (siginfo si_addr: the faulting address for SIGSEGV/SIGBUS,
 *                              the instruction for SIGILL/SIGFPE; 0 if status is 0)
 *             u64 regs[16]    final registers (at the fault when status != 0)
 *             u64 rflags      final RFLAGS & 0xcd5
 *             u32 run count, then per run: u32 offset, u32 length, u8 bytes[length]
 *                             the runs are the parts of the 64 KiB data area that differ from
 *                             the initial image (data then zeros), in 64-byte blocks.
 *
 * Errors in the input end the process with a message on stderr and exit status 2.
 *
 * The code runs in this process: it must keep its memory accesses inside the two regions
 * (anything else either faults or corrupts the oracle). System calls made from the code
 * region (SYSCALL, INT 0x80, ...) are refused by a seccomp filter that raises SIGSYS, and so
 * is every 32-bit system call (INT 0x80, SYSENTER from compatibility mode, whose reported
 * instruction pointer is not the code's), wherever it comes from: the oracle makes none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <asm/ldt.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_ADDRESS 0x40000000UL
#define CODE_SIZE 0x2000UL
#define CODE_MAX 4096U
#define DATA_ADDRESS 0x50000000UL
#define DATA_SIZE 0x10000UL
#define GUARD_SIZE 0x1000UL
#define FLAGS_MASK 0xcd5ULL
#define BLOCK 64U
#define IN_MAGIC 0x324e5856U
#define OUT_MAGIC 0x31525856U
#define TICK_USEC 250000
/* Linux x86-64 user selectors (arch/x86/include/asm/segment.h). */
#define USER32_CS 0x23
#define USER_DS 0x2b
#define USER_CS 0x33
/* LDT entry 0, table indicator set, RPL 3. */
#define DATA_AREA_SEL 0x7

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/* Shared with trampoline.S. */
uint64_t oracle_guest_in[17];
uint64_t oracle_guest_out[17];
uint64_t oracle_guest_entry = CODE_ADDRESS;
/* m16:32 far pointer for entering compatibility mode: offset, then selector. */
struct __attribute__((packed)) { uint32_t offset; uint16_t selector; } oracle_guest_far = {CODE_ADDRESS, USER32_CS};
uint16_t oracle_guest_ds = USER_DS;
void vmx_enter(void);
void vmx_enter32(void);
void vmx_exit(void);
void vmx_clean_flags(void);
void vmx_signal_entry(int, siginfo_t *, void *);
void oracle_on_signal(int, siginfo_t *, void *);

static sigjmp_buf fault_env;
static volatile sig_atomic_t in_guest;
static volatile sig_atomic_t ticks_in_case;

/* Written by the signal handler, read after siglongjmp. */
static volatile int fault_signal;
static volatile uint32_t fault_trapno;
static volatile uint64_t fault_err;
static volatile uint64_t fault_rip;
static volatile uint64_t fault_addr;
static volatile uint64_t fault_regs[17];

static unsigned char expected[DATA_SIZE];
static unsigned char code_in[CODE_MAX];
static unsigned char alt_stack[256 * 1024];

static void die(const char *what) {
  fprintf(stderr, "native oracle: %s\n", what);
  exit(2);
}

static void die_errno(const char *what) {
  fprintf(stderr, "native oracle: %s: %s\n", what, strerror(errno));
  exit(2);
}

/*
 * Record the machine state of the interrupted code and leave it. `exception`: the signal
 * comes from a CPU exception, so the context's trap number and error code are meaningful
 * (for SIGSYS and SIGVTALRM they would be stale).
 */
static void leave_guest(int sig, const siginfo_t *si, const ucontext_t *uc, int exception) {
  const greg_t *g = uc->uc_mcontext.gregs;
  static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                                REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; i++) fault_regs[i] = (uint64_t)g[order[i]];
  fault_regs[16] = (uint64_t)g[REG_EFL];
  fault_rip = (uint64_t)g[REG_RIP];
  fault_trapno = exception ? (uint32_t)g[REG_TRAPNO] : 0;
  fault_err = exception ? (uint64_t)g[REG_ERR] : 0;
  /* For SIGSYS this is si_call_addr (same storage): the address after the system call. */
  fault_addr = sig == SIGVTALRM ? 0 : (uint64_t)(uintptr_t)si->si_addr;
  fault_signal = sig;
  in_guest = 0;
  siglongjmp(fault_env, 1);
}

/* Reached through vmx_signal_entry (trampoline.S), which has cleared RFLAGS.AC. */
void oracle_on_signal(int sig, siginfo_t *si, void *ctx) {
  if (sig == SIGVTALRM) {
    if (!in_guest) return;
    if (++ticks_in_case < 2) return;
    /* At least one full tick of CPU time spent in this case: treat it as hung. */
    leave_guest(sig, si, (const ucontext_t *)ctx, 0);
  }
  if (!in_guest) {
    /* A fault in the oracle itself: let the default action report it. */
    signal(sig, SIG_DFL);
    return;
  }
  leave_guest(sig, si, (const ucontext_t *)ctx, sig != SIGSYS);
}

/* Refuse (SIGSYS) every 32-bit system call and every one made from the code region; allow all others. */
static void forbid_guest_syscalls(void) {
  const uint32_t ip = offsetof(struct seccomp_data, instruction_pointer);
  const uint32_t arch = offsetof(struct seccomp_data, arch);
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ip),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, CODE_ADDRESS, 0, 1),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, CODE_ADDRESS + CODE_SIZE + GUARD_SIZE, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die_errno("prctl(PR_SET_NO_NEW_PRIVS)");
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) die_errno("prctl(PR_SET_SECCOMP)");
}

/* LDT entry 0: a 32-bit read/write data segment over exactly the data area. 0 if refused. */
static int install_data_area_segment(void) {
  struct user_desc d;
  memset(&d, 0, sizeof d);
  d.entry_number = 0;
  d.base_addr = (unsigned int)DATA_ADDRESS;
  d.limit = DATA_SIZE - 1;
  d.seg_32bit = 1;
  d.useable = 1;
  return syscall(SYS_modify_ldt, 1, &d, sizeof d) == 0;
}

static void install(int sig, int extra) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = vmx_signal_entry;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | extra;
  sigfillset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0) die_errno("sigaction");
}

static void map_fixed(unsigned long address, unsigned long size, int prot) {
  void *p = mmap((void *)address, size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                 -1, 0);
  if (p == MAP_FAILED) die_errno("cannot map the fixed code/data address");
  if ((unsigned long)p != address) die("the kernel did not map the fixed code/data address");
}

static void read_exact(void *buf, size_t n) {
  if (n && fread(buf, 1, n, stdin) != n) die(feof(stdin) ? "input ends in the middle of a case" : "read error");
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint32_t v) {
  unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                        (unsigned char)(v >> 24)};
  fwrite(b, 1, 4, stdout);
}

/* x86-64 is little-endian: quadwords go out as they are in memory. */
static void put_u64(uint64_t v) { fwrite(&v, 1, 8, stdout); }

static void put_data_runs(const unsigned char *data) {
  uint32_t starts[DATA_SIZE / BLOCK], ends[DATA_SIZE / BLOCK];
  uint32_t n = 0;
  for (uint32_t off = 0; off < DATA_SIZE; off += BLOCK) {
    if (memcmp(data + off, expected + off, BLOCK) == 0) continue;
    if (n > 0 && ends[n - 1] == off) {
      ends[n - 1] = off + BLOCK;
    } else {
      starts[n] = off;
      ends[n] = off + BLOCK;
      n++;
    }
  }
  put_u32(n);
  for (uint32_t i = 0; i < n; i++) {
    put_u32(starts[i]);
    put_u32(ends[i] - starts[i]);
    fwrite(data + starts[i], 1, ends[i] - starts[i], stdout);
  }
}

int main(void) {
  static char out_buf[1 << 20], in_buf[1 << 20];
  setvbuf(stdout, out_buf, _IOFBF, sizeof out_buf);
  setvbuf(stdin, in_buf, _IOFBF, sizeof in_buf);

  map_fixed(CODE_ADDRESS, CODE_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map_fixed(CODE_ADDRESS + CODE_SIZE, GUARD_SIZE, PROT_NONE);
  map_fixed(DATA_ADDRESS, DATA_SIZE, PROT_READ | PROT_WRITE);
  map_fixed(DATA_ADDRESS + DATA_SIZE, GUARD_SIZE, PROT_NONE);
  unsigned char *code = (unsigned char *)CODE_ADDRESS;
  unsigned char *data = (unsigned char *)DATA_ADDRESS;

  stack_t ss;
  memset(&ss, 0, sizeof ss);
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof alt_stack;
  if (sigaltstack(&ss, NULL) != 0) die_errno("sigaltstack");
  int have_ldt_segment = install_data_area_segment();
  install(SIGSEGV, 0);
  install(SIGBUS, 0);
  install(SIGILL, 0);
  install(SIGFPE, 0);
  install(SIGTRAP, 0);
  install(SIGSYS, 0);
  install(SIGVTALRM, SA_RESTART);
  forbid_guest_syscalls();
  struct itimerval tv;
  tv.it_interval.tv_sec = 0;
  tv.it_interval.tv_usec = TICK_USEC;
  tv.it_value = tv.it_interval;
  if (setitimer(ITIMER_VIRTUAL, &tv, NULL) != 0) die_errno("setitimer");

  unsigned char header[8];
  read_exact(header, 8);
  if (get_u32(header) != IN_MAGIC) die("bad input magic");
  uint32_t count = get_u32(header + 4);
  put_u32(OUT_MAGIC);
  put_u32(count);

  uint32_t host_mxcsr;
  uint16_t host_fcw;
  uint32_t host_ds;
  __asm__ volatile("mov %%ds, %0" : "=r"(host_ds));
  __asm__ volatile("stmxcsr %0" : "=m"(host_mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(host_fcw));

  for (uint32_t c = 0; c < count; c++) {
    unsigned char head[17 * 8 + 16];
    read_exact(head, sizeof head);
    uint32_t data_len = get_u32(head + 136), code_len = get_u32(head + 140), mode = get_u32(head + 144);
    uint32_t segments = get_u32(head + 148);
    if (data_len > DATA_SIZE) die("data image larger than 64 KiB");
    if (code_len > CODE_MAX) die("code larger than 4 KiB");
    if (mode != 64 && mode != 32) die("mode must be 64 or 32");
    if (segments > 1 || (segments == 1 && mode != 32)) die("segments must be 0, or 1 with mode 32");
    if (segments == 1 && !have_ldt_segment) die("modify_ldt refused the data-area segment");
    oracle_guest_ds = segments == 1 ? DATA_AREA_SEL : USER_DS;
    read_exact(expected, data_len);
    memset(expected + data_len, 0, DATA_SIZE - data_len);
    read_exact(code_in, code_len);

    memcpy(data, expected, DATA_SIZE);
    memset(code, 0xcc, CODE_SIZE);
    memcpy(code, code_in, code_len);
    uint32_t stub_at = code_len;
    if (mode == 32) {
      /* jmp far cs:[far_at] (2E FF /5, ModRM 0x2d = disp32 in 32-bit addressing) to 0x33:stub_at */
      uint32_t far_at = (code_len + 7 + 7) & ~7U;
      uint32_t far_linear = (uint32_t)CODE_ADDRESS + far_at;
      unsigned char jmp_far[7] = {0x2e, 0xff, 0x2d};
      memcpy(jmp_far + 3, &far_linear, 4);
      memcpy(code + code_len, jmp_far, 7);
      stub_at = far_at + 8;
      uint32_t stub_linear = (uint32_t)CODE_ADDRESS + stub_at;
      uint16_t cs64 = USER_CS;
      memcpy(code + far_at, &stub_linear, 4);
      memcpy(code + far_at + 4, &cs64, 2);
    }
    uint64_t exit_target = (uint64_t)(uintptr_t)&vmx_exit;
    uint32_t target_at = (stub_at + 6 + 7) & ~7U;
    uint32_t disp = target_at - (stub_at + 6);
    unsigned char jmp_rip[6] = {0xff, 0x25, (unsigned char)disp, 0, 0, 0};
    memcpy(code + stub_at, jmp_rip, 6);
    memcpy(code + target_at, &exit_target, 8);

    memcpy(oracle_guest_in, head, 16 * 8);
    uint64_t flags;
    memcpy(&flags, head + 128, 8);
    oracle_guest_in[16] = (flags & FLAGS_MASK) | 0x202;

    fault_signal = 0;
    ticks_in_case = 0;
    if (sigsetjmp(fault_env, 1) == 0) {
      in_guest = 1;
      if (mode == 32) vmx_enter32(); else vmx_enter();
      in_guest = 0;
    }
    vmx_clean_flags();
    /* the host's DS/ES are null, as 64-bit Linux user space has them */
    __asm__ volatile("mov %0, %%ds\n\tmov %0, %%es" : : "r"(host_ds));
    __asm__ volatile("fninit");
    __asm__ volatile("fldcw %0" : : "m"(host_fcw));
    __asm__ volatile("ldmxcsr %0" : : "m"(host_mxcsr));

    if (fault_signal == 0) {
      put_u32(0);
      put_u32(0);
      put_u64(0);
      put_u64(0);
      put_u64(0);
      for (int i = 0; i < 16; i++) put_u64(oracle_guest_out[i]);
      put_u64(oracle_guest_out[16] & FLAGS_MASK);
    } else {
      put_u32((uint32_t)fault_signal);
      put_u32(fault_trapno);
      put_u64(fault_err);
      put_u64(fault_rip - CODE_ADDRESS);
      put_u64(fault_addr);
      for (int i = 0; i < 16; i++) put_u64(fault_regs[i]);
      put_u64(fault_regs[16] & FLAGS_MASK);
    }
    put_data_runs(data);
  }
  if (fflush(stdout) != 0) die_errno("write error");
  return 0;
}
