# hello: the smallest complete guest. boot.inc brings it from real mode (where x86_vcpu
# starts a guest) to 64-bit long mode and calls main; main prints one line on COM1 and
# returns 0, so the machine powers off with exit code 0.

    .include "boot.inc"
    .include "serial.inc"

    .text
main:
    call serial_init
    lea rsi, [rip + message]
    call serial_puts
    xor eax, eax                   # success: power off
    ret

    .section .rodata
message:
    .asciz "Hello from 64-bit long mode on vmx-debug!\n"
