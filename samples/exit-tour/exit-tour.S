# exit-tour: provokes, one after another, every VM exit reason this machine hands to its
# VmxVcpu or its VMM, and checks what comes back. Each step prints "step N: REASON (what) ... "
# on COM1 before it runs and "ok" or "FAIL: why" after it; main returns the number of failed
# steps, so boot.inc powers off (exit code 0) when all passed and otherwise ends through
# isa-debug-exit with exit code (failures << 1) | 1.
#
# Rules main keeps, so that test/unit/sample-exit-tour.test.ts can count the exits from this
# source: every CPUID, RDMSR, WRMSR, XSETBV, INVD, VMCALL, HLT and VMX instruction in main runs
# once and exits once; every MOV to CR0/CR4 in main changes a bit the VMM owns (CR0.NE,
# CR4.VMXE: the guest/host masks in src/vmx/vcpu.ts), so each exits; every IN/OUT in main runs
# once; each call of pit_arm gives exactly one timer interrupt (PIT mode 0 raises its OUT
# once, at the terminal count).

    .include "boot.inc"
    .include "serial.inc"

    .set PIC1_CMD, 0x20            # 8259A master: ICW1, OCW2, OCW3
    .set PIC1_DATA, 0x21           # ICW2-4, OCW1 (mask)
    .set PIC2_CMD, 0xa0
    .set PIC2_DATA, 0xa1
    .set PIC_VECTOR_BASE, 0x20     # IRQ 0-7 -> vectors 0x20-0x27 (above the exceptions)
    .set PIC_EOI, 0x20             # OCW2: non-specific EOI
    .set PIC_READ_ISR, 0x0b        # OCW3: the next read of PIC1_CMD returns the ISR
    .set PIC_READ_IRR, 0x0a        # OCW3: back to reading the IRR
    .set HPET_BASE, 0xfed00000     # the HPET's registers: EPT leaves them unmapped, the VMM emulates them
    .set HPET_GCAP_HIGH, 4         # high half of the general capabilities and ID register
    .set HPET_PERIOD_FS, 69841279  # 10^15 / 14.31818 MHz
    .set PIT_COUNTER0, 0x40
    .set PIT_CONTROL, 0x43
    .set PIT_ONE_SHOT, 0x30        # counter 0, LSB then MSB, mode 0 (interrupt on terminal count), binary
    .set COM1_SCR, COM1 + 7        # 16550A scratch register: holds whatever is written

    .set VEC_UD, 6
    .set VEC_GP, 13
    .set VEC_TIMER, PIC_VECTOR_BASE

    .set CR0_NE, 0x20
    .set CR4_VMXE, 0x2000
    .set CR4_OSXSAVE, 0x40000

    .set HV_MSR_GUEST_ID, 0x40000000   # the VMM's synthetic MSR (src/vmm/machine.ts)
    .set HV_MSR_UNKNOWN, 0x40000001    # not the VMM's: #GP
    .set GUEST_ID_LO, 0x76646267       # an arbitrary 64-bit value to write and read back
    .set GUEST_ID_HI, 0x13572468
    .set HC_VERSION, 0                 # hypercall numbers (src/vmm/hypercalls.ts)
    .set HC_CONSOLE_WRITE, 1
    .set HC_UNKNOWN, 0x7fff

    .set SPIN_LIMIT, 1000000           # iterations to wait for a tick before calling it lost

# ---- checks -------------------------------------------------------------------------

# Begins a step: prints "step N: TEXT ... ".
.macro STEP text
    .pushsection .rodata
.Ltitle\@: .asciz "\text"
    .popsection
    lea rsi, [rip + .Ltitle\@]
    call step_begin
.endm

# Fails the step with TEXT when condition CC holds (flags as the preceding compare left them).
.macro FAIL_IF cc, text
    .pushsection .rodata
.Lwhy\@: .asciz "\text"
    .popsection
    j\cc .Lfail\@
    jmp .Lpass\@
.Lfail\@:
    lea rsi, [rip + .Lwhy\@]
    call note_failure
.Lpass\@:
.endm

# Runs INSN, which must raise one exception counted by COUNTER (ud_count or gp_count); the
# handler resumes after INSN. Uses RBX and R11; set INSN's operands before.
.macro EXPECT_FAULT counter, text, insn:vararg
    mov rbx, [rip + \counter]
    lea r11, [rip + .Lresume\@]
    mov [rip + fault_resume], r11
    \insn
.Lresume\@:
    mov qword ptr [rip + fault_resume], 0
    sub rbx, [rip + \counter]
    cmp rbx, -1
    FAIL_IF ne, "\text"
.endm

    .text
main:
    call serial_init
    call idt_init
    lea rsi, [rip + banner]
    call serial_puts

# ---- exits the vCPU handles itself ---------------------------------------------------
    STEP "CPUID (leaf 1: VMX hidden, hypervisor present)"
    mov eax, 1
    xor ecx, ecx
tour_cpuid_leaf1:
    cpuid
    bt ecx, 5
    FAIL_IF c, "CPUID.1:ECX.VMX[5] is set"
    bt ecx, 31
    FAIL_IF nc, "CPUID.1:ECX[31] (hypervisor) is clear"
    call step_end

    STEP "CPUID (leaf 0x40000000: vendor vmx-debug)"
    mov eax, 0x40000000
    xor ecx, ecx
    cpuid
    cmp eax, 0x40000000
    FAIL_IF b, "EAX (highest hypervisor leaf) below 0x40000000"
    cmp ebx, 0x2d786d76            # "vmx-"
    FAIL_IF ne, "EBX is not vmx-"
    cmp ecx, 0x75626564            # "debu"
    FAIL_IF ne, "ECX is not debu"
    cmp edx, 0x20202067            # "g   "
    FAIL_IF ne, "EDX is not g+3 spaces"
    call step_end

    STEP "CR_ACCESS (mov cr0, rbx setting CR0.NE)"
    mov rbx, cr0
    bt rbx, 5
    FAIL_IF c, "CR0.NE already set (the guest starts with NE clear)"
    or rbx, CR0_NE
tour_mov_cr0:
    mov cr0, rbx
    mov rax, cr0
    bt rax, 5
    FAIL_IF nc, "CR0.NE reads back clear"
    call step_end

    STEP "CR_ACCESS (mov cr4, r12 setting CR4.VMXE and OSXSAVE)"
    mov r12, cr4
    bt r12, 13
    FAIL_IF c, "CR4.VMXE visible before the guest set it"
    or r12, CR4_VMXE | CR4_OSXSAVE
tour_mov_cr4:
    mov cr4, r12
    mov rax, cr4
    bt rax, 13
    FAIL_IF nc, "CR4.VMXE reads back clear"
    bt rax, 18
    FAIL_IF nc, "CR4.OSXSAVE reads back clear"
    call step_end

    STEP "XSETBV (XCR0 = 1, read back with XGETBV)"
    xor ecx, ecx
    xor edx, edx
    mov eax, 1
    xsetbv
    xor ecx, ecx
    xgetbv
    cmp eax, 1
    FAIL_IF ne, "XCR0 is not 1"
    test edx, edx
    FAIL_IF nz, "XCR0[63:32] is not 0"
    call step_end

    STEP "XSETBV (XCR0 = 3, x87 + SSE not offered: #GP)"
    xor ecx, ecx
    xor edx, edx
    mov eax, 3
    EXPECT_FAULT gp_count, "no #GP", xsetbv
    cmp qword ptr [rip + gp_error], 0
    FAIL_IF ne, "#GP error code is not 0"
    xor ecx, ecx
    xgetbv
    cmp eax, 1
    FAIL_IF ne, "XCR0 changed"
    call step_end

# ---- exits the VMM answers -----------------------------------------------------------
    STEP "IO_INSTRUCTION (out/in COM1 scratch register 0x3ff)"
    mov dx, COM1_SCR
    mov al, 0xa5
tour_out_scr:
    out dx, al
    xor eax, eax
    in al, dx
    cmp al, 0xa5
    FAIL_IF ne, "scratch register lost its value"
    call step_end

    STEP "MSR_WRITE (wrmsr 0x40000000)"
    mov ecx, HV_MSR_GUEST_ID
    mov eax, GUEST_ID_LO
    mov edx, GUEST_ID_HI
    wrmsr
    call step_end

    STEP "MSR_READ (rdmsr 0x40000000 gives the value written)"
    mov ecx, HV_MSR_GUEST_ID
    xor eax, eax
    xor edx, edx
tour_rdmsr:
    rdmsr
    cmp eax, GUEST_ID_LO
    FAIL_IF ne, "EAX differs from the value written"
    cmp edx, GUEST_ID_HI
    FAIL_IF ne, "EDX differs from the value written"
    call step_end

    STEP "MSR_READ (rdmsr 0x40000001, not the VMM's: #GP)"
    mov ecx, HV_MSR_UNKNOWN
    EXPECT_FAULT gp_count, "no #GP", rdmsr
    cmp qword ptr [rip + gp_error], 0
    FAIL_IF ne, "#GP error code is not 0"
    call step_end

    STEP "INVD (no caches are modelled: the VMM skips it, memory keeps its writes)"
    mov qword ptr [rip + invd_probe], 0x1d
    invd
    cmp qword ptr [rip + invd_probe], 0x1d
    FAIL_IF ne, "a write before INVD was lost"
    call step_end

    STEP "EPT_VIOLATION (HPET at 0xfed00000: an MMIO read the VMM completes on the device)"
    mov ebx, HPET_BASE
    mov eax, dword ptr [rbx + HPET_GCAP_HIGH]  # GCAP_ID[63:32]: the counter period in femtoseconds
    cmp eax, HPET_PERIOD_FS
    FAIL_IF ne, "the HPET's period is not 69841279 fs"
    call step_end

    STEP "VMCALL (VERSION gives 1)"
    mov eax, HC_VERSION
tour_vmcall:
    vmcall
    cmp rax, 1
    FAIL_IF ne, "RAX is not 1"
    call step_end

    STEP "VMCALL (CONSOLE_WRITE)"
    mov eax, HC_CONSOLE_WRITE
    lea rdi, [rip + hypercall_text]
    mov esi, hypercall_text_end - hypercall_text
    vmcall
    cmp rax, hypercall_text_end - hypercall_text
    FAIL_IF ne, "RAX is not the length written"
    call step_end

    STEP "VMCALL (unknown number gives -1)"
    mov eax, HC_UNKNOWN
    vmcall
    cmp rax, -1
    FAIL_IF ne, "RAX is not -1"
    call step_end

    STEP "VMON (vmxon in the guest: no nested VMX, #UD)"
    EXPECT_FAULT ud_count, "no #UD", vmxon [rip + vmx_region]
    call step_end

    STEP "VMCLEAR VMPTRLD VMPTRST VMREAD VMWRITE VMLAUNCH VMRESUME VMOFF INVEPT INVVPID (#UD each)"
    EXPECT_FAULT ud_count, "VMCLEAR: no #UD", vmclear [rip + vmx_region]
    EXPECT_FAULT ud_count, "VMPTRLD: no #UD", vmptrld [rip + vmx_region]
    EXPECT_FAULT ud_count, "VMPTRST: no #UD", vmptrst [rip + vmx_region]
    xor eax, eax
    EXPECT_FAULT ud_count, "VMREAD: no #UD", vmread rcx, rax
    EXPECT_FAULT ud_count, "VMWRITE: no #UD", vmwrite rax, rcx
    EXPECT_FAULT ud_count, "VMLAUNCH: no #UD", vmlaunch
    EXPECT_FAULT ud_count, "VMRESUME: no #UD", vmresume
    EXPECT_FAULT ud_count, "VMXOFF: no #UD", vmxoff
    mov eax, 2                     # all-context invalidation
    EXPECT_FAULT ud_count, "INVEPT: no #UD", invept rax, [rip + vmx_region]
    EXPECT_FAULT ud_count, "INVVPID: no #UD", invvpid rax, [rip + vmx_region]
    call step_end

# ---- interrupts: the 8259A PIC and the 8254 PIT --------------------------------------
    STEP "IO_INSTRUCTION (8259A init, mask read back with in al, 0x21)"
    mov al, 0x11                   # ICW1: edge triggered, cascade, ICW4 follows
    out PIC1_CMD, al
    out PIC2_CMD, al
    mov al, PIC_VECTOR_BASE        # ICW2: vector base
    out PIC1_DATA, al
    mov al, PIC_VECTOR_BASE + 8
    out PIC2_DATA, al
    mov al, 0x04                   # ICW3: the slave on IR2 / the slave's identity 2
    out PIC1_DATA, al
    mov al, 0x02
    out PIC2_DATA, al
    mov al, 0x01                   # ICW4: 8086 mode, normal EOI
    out PIC1_DATA, al
    out PIC2_DATA, al
    mov al, 0xff                   # OCW1: the slave all masked, the master all but IRQ 0
    out PIC2_DATA, al
    mov al, 0xfe
    out PIC1_DATA, al
    xor eax, eax
tour_in_imm:
    in al, PIC1_DATA
    cmp al, 0xfe
    FAIL_IF ne, "the master's mask is not 0xfe"
    call step_end

    STEP "EXTERNAL_INTERRUPT (PIT tick with IF = 1, handler runs)"
    mov ecx, 100
    call pit_arm
    sti
    mov ecx, SPIN_LIMIT
1:  cmp qword ptr [rip + ticks], 1
    je 2f
    dec ecx
    jnz 1b
2:  cli
    cmp qword ptr [rip + ticks], 1
    FAIL_IF ne, "no timer interrupt reached the handler"
    call step_end

    STEP "HLT (sti; hlt wakes on the next PIT tick)"
    mov ecx, 1000
    call pit_arm
    sti
tour_hlt:
    hlt
    cli
    cmp qword ptr [rip + ticks], 2
    FAIL_IF ne, "HLT returned without a timer interrupt"
    call step_end

    STEP "INTERRUPT_WINDOW (tick while IF = 0 is held until sti)"
    mov ecx, 10
    call pit_arm
    mov ecx, 5000                  # ~10000 instructions: the 10-pulse count (840) ends long before
1:  dec ecx
    jnz 1b
    cmp qword ptr [rip + ticks], 2
    FAIL_IF ne, "the handler ran with IF = 0"
    mov al, PIC_READ_ISR           # the VMM acknowledged the interrupt at the exit: IR0 is in service
    out PIC1_CMD, al
    in al, PIC1_CMD
    mov bl, al
    mov al, PIC_READ_IRR
    out PIC1_CMD, al
    test bl, 1
    FAIL_IF z, "IRQ 0 not in service: no external interrupt happened"
    sti
    nop                            # the instruction after STI still runs with interrupts blocked
    cli
    cmp qword ptr [rip + ticks], 3
    FAIL_IF ne, "the interrupt was not delivered after sti"
    call step_end

    lea rsi, [rip + summary]
    call serial_puts
    mov eax, [rip + step_no]
    call print_dec
    lea rsi, [rip + summary_failed]
    call serial_puts
    mov eax, [rip + failures]
    call print_dec
    lea rsi, [rip + summary_ticks]
    call serial_puts
    mov eax, [rip + ticks]
    call print_dec
    mov al, 10                     # newline
    call serial_putc
    mov eax, [rip + failures]
    ret

# ---- helpers ------------------------------------------------------------------------

# RSI = title: counts the step and prints "step N: TITLE ... ".
step_begin:
    push rax
    push rdx
    push rsi
    mov qword ptr [rip + step_error], 0
    inc dword ptr [rip + step_no]
    lea rsi, [rip + step_word]
    call serial_puts
    mov eax, [rip + step_no]
    call print_dec
    mov al, ':'
    call serial_putc
    mov al, ' '
    call serial_putc
    mov rsi, [rsp]
    call serial_puts
    lea rsi, [rip + dots]
    call serial_puts
    pop rsi
    pop rdx
    pop rax
    ret

# RSI = why: the step fails (the first reason is the one printed).
note_failure:
    cmp qword ptr [rip + step_error], 0
    jne 1f
    mov [rip + step_error], rsi
1:  ret

# Ends the step's line: "ok", or "FAIL: why" and one more failure.
step_end:
    push rax
    push rdx
    push rsi
    mov rsi, [rip + step_error]
    test rsi, rsi
    jnz 1f
    lea rsi, [rip + ok_word]
    call serial_puts
    jmp 2f
1:  inc dword ptr [rip + failures]
    lea rsi, [rip + fail_word]
    call serial_puts
    mov rsi, [rip + step_error]
    call serial_puts
2:  mov al, 10                     # newline
    call serial_putc
    pop rsi
    pop rdx
    pop rax
    ret

# Prints EAX in decimal.
print_dec:
    push rax
    push rcx
    push rdx
    push rbx
    mov ebx, 10
    xor ecx, ecx
1:  xor edx, edx
    div ebx
    push rdx
    inc ecx
    test eax, eax
    jnz 1b
2:  pop rax
    add al, '0'
    push rcx
    call serial_putc
    pop rcx
    dec ecx
    jnz 2b
    pop rbx
    pop rdx
    pop rcx
    pop rax
    ret

# Arms PIT counter 0 as a one-shot of ECX pulses: its OUT (IRQ 0) rises once, at the end.
pit_arm:
    mov al, PIT_ONE_SHOT
    out PIT_CONTROL, al
    mov al, cl
    out PIT_COUNTER0, al
    mov al, ch
    out PIT_COUNTER0, al
    ret

# Fills the IDT's gates for #UD, #GP and the timer (64-bit interrupt gates, DPL 0) and loads it.
idt_init:
    mov eax, VEC_UD
    lea rdx, [rip + ud_handler]
    call set_gate
    mov eax, VEC_GP
    lea rdx, [rip + gp_handler]
    call set_gate
    mov eax, VEC_TIMER
    lea rdx, [rip + timer_handler]
    call set_gate
    lidt [rip + idt_ptr]
    ret

# EAX = vector, RDX = handler: a present 64-bit interrupt gate (SDM Vol. 3A, 7.14.1).
set_gate:
    shl eax, 4
    lea rdi, [rip + idt]
    add rdi, rax
    mov [rdi], dx                  # offset 15:0
    mov word ptr [rdi + 2], SEL_CODE64
    mov word ptr [rdi + 4], 0x8e00 # P = 1, DPL = 0, type 0xE (interrupt gate), IST 0
    shr rdx, 16
    mov [rdi + 6], dx              # offset 31:16
    shr rdx, 16
    mov [rdi + 8], edx             # offset 63:32
    mov dword ptr [rdi + 12], 0
    ret

# ---- interrupt and exception handlers ------------------------------------------------

# An exception the tour asked for resumes at fault_resume (after the faulting instruction);
# any other one ends the machine with exit code 0xff.
ud_handler:
    inc qword ptr [rip + ud_count]
    push rax
    mov rax, [rip + fault_resume]
    test rax, rax
    jz unexpected_fault
    mov [rsp + 8], rax             # the frame's RIP
    pop rax
    iretq

gp_handler:
    inc qword ptr [rip + gp_count]
    push rax
    mov rax, [rsp + 8]             # the error code
    mov [rip + gp_error], rax
    mov rax, [rip + fault_resume]
    test rax, rax
    jz unexpected_fault
    mov [rsp + 16], rax            # the frame's RIP, above the error code
    pop rax
    add rsp, 8
    iretq

unexpected_fault:
    mov al, 0x7f
    out DEBUG_EXIT, al
1:  hlt
    jmp 1b

timer_handler:
    push rax
    inc qword ptr [rip + ticks]
    mov al, PIC_EOI
    out PIC1_CMD, al
    pop rax
    iretq

    .section .rodata
banner:
    .asciz "exit tour: every VM exit this machine produces, one step at a time\n"
step_word:
    .asciz "step "
dots:
    .asciz " ... "
ok_word:
    .asciz "ok"
fail_word:
    .asciz "FAIL: "
summary:
    .asciz "exit tour: "
summary_failed:
    .asciz " steps, failed "
summary_ticks:
    .asciz ", timer ticks "
hypercall_text:
    .ascii "written by the VMM, "
hypercall_text_end:

    .data
    .balign 8
idt_ptr:
    .word 256 * 16 - 1
    .quad idt
step_no:      .long 0
failures:     .long 0
step_error:   .quad 0
fault_resume: .quad 0
ud_count:     .quad 0
gp_count:     .quad 0
gp_error:     .quad 0
ticks:        .quad 0
invd_probe:   .quad 0

    .bss
    .balign 4096
idt:        .skip 256 * 16
vmx_region: .skip 4096             # an operand for the VMX instructions (never used: they #UD)
