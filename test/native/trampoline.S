/*
 * Entry into and exit from a test case's code for the native oracle (see oracle.c).
 *
 * vmx_enter: called from C like `void vmx_enter(void)`. Saves the host's callee-saved
 *   registers and RSP in static storage, loads RFLAGS and all 16 general registers from
 *   oracle_guest_in, and jumps to the code at oracle_guest_entry. It never returns by
 *   itself: control comes back either through vmx_exit (the code ran to its end and fell
 *   into the jump stub that oracle.c puts after it) or through siglongjmp from a signal
 *   handler (the code faulted).
 *
 * vmx_enter32: the same, but first loads DS and ES with oracle_guest_ds (compatibility
 *   mode faults on a null DS) and enters the code by a far jump through oracle_guest_far
 *   (m16:32: 32-bit code selector and offset), which switches to compatibility mode. The
 *   code returns to 64-bit mode by its own far jump to a stub that goes on to vmx_exit.
 *
 * vmx_exit: the stub's target. Stores all 16 general registers to oracle_guest_out with
 *   RIP-relative moves (which touch no flag), then switches to a private stack for pushfq,
 *   stores RFLAGS, resets RFLAGS to a clean value, restores the host state and returns
 *   from vmx_enter to its C caller.
 *
 * Layout of oracle_guest_in / oracle_guest_out: 16 quadwords in SDM register-number order
 * (rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15), then RFLAGS at byte offset 128.
 */
    .intel_syntax noprefix

    .bss
    .balign 16
host_rbx: .skip 8
host_rbp: .skip 8
host_r12: .skip 8
host_r13: .skip 8
host_r14: .skip 8
host_r15: .skip 8
host_rsp: .skip 8
    .balign 16
flag_stack: .skip 64
flag_stack_top:

    .text

    /* Save the host's callee-saved registers and RSP, then load RFLAGS and all 16 guest registers. */
    .macro load_guest
    mov [rip + host_rbx], rbx
    mov [rip + host_rbp], rbp
    mov [rip + host_r12], r12
    mov [rip + host_r13], r13
    mov [rip + host_r14], r14
    mov [rip + host_r15], r15
    mov [rip + host_rsp], rsp
    /* RFLAGS first, while the host stack is still ours; MOV changes no flag afterwards. */
    push qword ptr [rip + oracle_guest_in + 128]
    popfq
    mov rax, [rip + oracle_guest_in + 0]
    mov rcx, [rip + oracle_guest_in + 8]
    mov rdx, [rip + oracle_guest_in + 16]
    mov rbx, [rip + oracle_guest_in + 24]
    mov rsp, [rip + oracle_guest_in + 32]
    mov rbp, [rip + oracle_guest_in + 40]
    mov rsi, [rip + oracle_guest_in + 48]
    mov rdi, [rip + oracle_guest_in + 56]
    mov r8,  [rip + oracle_guest_in + 64]
    mov r9,  [rip + oracle_guest_in + 72]
    mov r10, [rip + oracle_guest_in + 80]
    mov r11, [rip + oracle_guest_in + 88]
    mov r12, [rip + oracle_guest_in + 96]
    mov r13, [rip + oracle_guest_in + 104]
    mov r14, [rip + oracle_guest_in + 112]
    mov r15, [rip + oracle_guest_in + 120]
    .endm

    .globl vmx_enter
    .type vmx_enter, @function
vmx_enter:
    load_guest
    /* A memory-indirect jump: no register is needed to hold the target. */
    jmp qword ptr [rip + oracle_guest_entry]
    .size vmx_enter, . - vmx_enter

    .globl vmx_enter32
    .type vmx_enter32, @function
vmx_enter32:
    /* MOV to DS/ES changes no flag and no other register; done before the guest's RAX is in. */
    mov ax, [rip + oracle_guest_ds]
    mov ds, ax
    mov es, ax
    load_guest
    /* FF /5 without REX.W: the far pointer is m16:32. */
    jmp fword ptr [rip + oracle_guest_far]
    .size vmx_enter32, . - vmx_enter32

    .globl vmx_exit
    .type vmx_exit, @function
vmx_exit:
    mov [rip + oracle_guest_out + 0], rax
    mov [rip + oracle_guest_out + 8], rcx
    mov [rip + oracle_guest_out + 16], rdx
    mov [rip + oracle_guest_out + 24], rbx
    mov [rip + oracle_guest_out + 32], rsp
    mov [rip + oracle_guest_out + 40], rbp
    mov [rip + oracle_guest_out + 48], rsi
    mov [rip + oracle_guest_out + 56], rdi
    mov [rip + oracle_guest_out + 64], r8
    mov [rip + oracle_guest_out + 72], r9
    mov [rip + oracle_guest_out + 80], r10
    mov [rip + oracle_guest_out + 88], r11
    mov [rip + oracle_guest_out + 96], r12
    mov [rip + oracle_guest_out + 104], r13
    mov [rip + oracle_guest_out + 112], r14
    mov [rip + oracle_guest_out + 120], r15
    /* LEA changes no flag either; the guest's RSP may point anywhere, so use our own stack. */
    lea rsp, [rip + flag_stack_top]
    pushfq
    pop rax
    mov [rip + oracle_guest_out + 128], rax
    /* Clean RFLAGS for the host (DF clear as the ABI demands; AC/TF clear if the code set them). */
    push 0x202
    popfq
    mov rsp, [rip + host_rsp]
    mov rbx, [rip + host_rbx]
    mov rbp, [rip + host_rbp]
    mov r12, [rip + host_r12]
    mov r13, [rip + host_r13]
    mov r14, [rip + host_r14]
    mov r15, [rip + host_r15]
    ret
    .size vmx_exit, . - vmx_exit

    /* void vmx_clean_flags(void): RFLAGS := 0x202 (used after a fault, when vmx_exit did not run). */
    .globl vmx_clean_flags
    .type vmx_clean_flags, @function
vmx_clean_flags:
    push 0x202
    popfq
    ret
    .size vmx_clean_flags, . - vmx_clean_flags

    /*
     * The sa_sigaction of every signal handler: the code may have set RFLAGS.AC (alignment
     * checking), which the kernel keeps for the handler, and the handler's C code and libc
     * must not run with it. Clear it and go on to oracle_on_signal with the arguments as
     * they are (pushfq/popfq leave RDI, RSI, RDX and the stack alignment unchanged).
     */
    .globl vmx_signal_entry
    .type vmx_signal_entry, @function
vmx_signal_entry:
    pushfq
    and qword ptr [rsp], ~0x40000
    popfq
    jmp oracle_on_signal
    .size vmx_signal_entry, . - vmx_signal_entry

    .section .note.GNU-stack, "", @progbits
