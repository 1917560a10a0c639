# hello: the smallest complete guest. It starts the way x86_vcpu starts a guest, in 16-bit
# real mode at 0000:_start, climbs through 32-bit protected mode into 64-bit long mode,
# prints one line on COM1 and powers the machine off.
#
# The steps follow SDM Vol. 3A, 10.9.1 "Switching to Protected Mode" and 10.8.5
# "Initializing IA-32e Mode"; the UART is programmed as any 16550A (8N1, FIFOs on).

    .intel_syntax noprefix

    .set COM1, 0x3f8               # base port of the first serial port (IRQ 4)
    .set UART_LSR_THRE, 0x20       # line status: transmitter holding register empty
    .set PM1A_CNT, 0x604           # ACPI PM1a control register (QEMU's, also x86_vcpu's)
    .set SLP_EN, 0x2000            # PM1a_CNT.SLP_EN with SLP_TYP 0: soft off

    .set SEL_CODE32, 0x08
    .set SEL_DATA, 0x10
    .set SEL_CODE64, 0x18

    .set PTE_PRESENT_WRITABLE, 3
    .set CR0_PE, 1
    .set CR0_PG, 0x80000000
    .set CR4_PAE, 0x20
    .set MSR_EFER, 0xc0000080
    .set EFER_LME, 0x100

# ---- 16-bit real mode -----------------------------------------------------------------
    .section .text.boot16, "ax"
    .code16
    .globl _start
_start:
    cli                            # no IDT yet: nothing may interrupt the switch
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, offset _start          # the stack grows down below the image
    lgdt [gdt_ptr]
    mov eax, cr0
    or eax, CR0_PE
    mov cr0, eax
    jmp SEL_CODE32:protected_mode  # the far jump loads CS from the GDT: now 32-bit code

# ---- 32-bit protected mode ------------------------------------------------------------
    .section .text.boot32, "ax"
    .code32
protected_mode:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, offset _start

    # Clear the four tables, then map the first 2 MiB one to one with 4 KiB pages:
    # PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] -> PT, PT[n] -> n * 4 KiB.
    mov edi, offset page_tables
    xor eax, eax
    mov ecx, (4 * 4096) / 4
    cld
    rep stosd
    mov dword ptr [pml4], offset pdpt + PTE_PRESENT_WRITABLE
    mov dword ptr [pdpt], offset pd + PTE_PRESENT_WRITABLE
    mov dword ptr [pd], offset pt + PTE_PRESENT_WRITABLE
    mov edi, offset pt
    mov eax, PTE_PRESENT_WRITABLE
    mov ecx, 512
1:  mov [edi], eax
    add eax, 4096
    add edi, 8
    dec ecx
    jnz 1b

    mov eax, offset pml4
    mov cr3, eax
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, EFER_LME
    wrmsr
    mov eax, cr0
    or eax, CR0_PG                 # paging on with EFER.LME set: IA-32e mode (EFER.LMA = 1)
    mov cr0, eax
    jmp SEL_CODE64:long_mode       # a code segment with L = 1: now 64-bit code

# ---- 64-bit long mode -----------------------------------------------------------------
    .text
    .code64
long_mode:
    mov ax, SEL_DATA
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, offset _start

    call serial_init
    lea rsi, [rip + message]
    call serial_puts

    mov dx, PM1A_CNT               # power off
    mov ax, SLP_EN
    out dx, ax
halt:
    hlt                            # only reached if the power-off is ignored
    jmp halt

# COM1: no interrupts, 115200 baud (divisor 1), 8 data bits, no parity, 1 stop bit.
serial_init:
    mov dx, COM1 + 1               # IER: all interrupts off
    xor al, al
    out dx, al
    mov dx, COM1 + 3               # LCR: DLAB = 1 to reach the divisor latch
    mov al, 0x80
    out dx, al
    mov dx, COM1 + 0               # DLL
    mov al, 1
    out dx, al
    mov dx, COM1 + 1               # DLM
    xor al, al
    out dx, al
    mov dx, COM1 + 3               # LCR: 8N1, DLAB = 0
    mov al, 0x03
    out dx, al
    mov dx, COM1 + 2               # FCR: enable the FIFOs and clear both
    mov al, 0x07
    out dx, al
    mov dx, COM1 + 4               # MCR: DTR and RTS
    mov al, 0x03
    out dx, al
    ret

# Sends the NUL-terminated string at RSI.
serial_puts:
    mov al, [rsi]
    test al, al
    jz 2f
    call serial_putc
    inc rsi
    jmp serial_puts
2:  ret

# Sends AL once the transmitter holding register is empty.
serial_putc:
    mov ah, al
    mov dx, COM1 + 5               # LSR
1:  in al, dx
    test al, UART_LSR_THRE
    jz 1b
    mov al, ah
    mov dx, COM1                   # THR
    out dx, al
    ret

    .section .rodata
message:
    .asciz "Hello from 64-bit long mode on vmx-debug!\n"

    .data
    .balign 8
gdt:
    .quad 0                        # null descriptor
    .quad 0x00cf9a000000ffff       # 0x08: 32-bit code, base 0, limit 4 GiB
    .quad 0x00cf92000000ffff       # 0x10: data, base 0, limit 4 GiB
    .quad 0x00af9a000000ffff       # 0x18: 64-bit code (L = 1, D = 0)
gdt_end:
gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt

    .bss
    .balign 4096
page_tables:
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4096
pt:   .skip 4096
