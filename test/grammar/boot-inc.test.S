# SYNTAX TEST "source.x86-asm" "samples/common/boot.inc"
    .intel_syntax noprefix
#   ^^^^^^^^^^^^^ keyword.control.directive.x86-asm
    .set PM1A_CNT, 0x604           # ACPI PM1a control register (QEMU's, also x86_vcpu's)
#   ^^^^ keyword.control.directive.x86-asm
#                  ^^^^^ constant.numeric.x86-asm
#                                  ^ comment.line.number-sign.x86-asm punctuation.definition.comment.x86-asm
#                                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ comment.line.number-sign.x86-asm
    .section .text.boot16, "ax"
#   ^^^^^^^^ keyword.control.directive.x86-asm
#                           ^^ string.quoted.double.x86-asm
    .code16
#   ^^^^^^^ keyword.control.directive.x86-asm
_start:
# <------ entity.name.function.label.x86-asm
    xor ax, ax
#   ^^^ keyword.other.instruction.x86-asm
#       ^^ variable.language.register.general.x86-asm
#         ^ punctuation.separator.x86-asm
    mov ds, ax
#       ^^ variable.language.register.segment.x86-asm
    mov sp, offset _start          # the stack grows down below the image
#           ^^^^^^ keyword.operator.word.x86-asm
#                  ^^^^^^ - keyword.other.instruction.x86-asm
    lgdt [gdt_ptr]
#   ^^^^ keyword.other.instruction.x86-asm
#        ^ punctuation.definition.brackets.x86-asm
    mov eax, cr0
#            ^^^ variable.language.register.control.x86-asm
    jmp SEL_CODE32:protected_mode  # the far jump loads CS from the GDT: now 32-bit code
#   ^^^ keyword.other.instruction.x86-asm
#                  ^^^^^^^^^^^^^^ - keyword.other.instruction.x86-asm entity.name.function.label.x86-asm
    mov dword ptr [pml4], offset pdpt + PTE_PRESENT_WRITABLE
#       ^^^^^ storage.type.size.x86-asm
#             ^^^ keyword.operator.word.x86-asm
1:  mov [edi], eax
# <- entity.name.label.local.x86-asm
#^ punctuation.separator.label.x86-asm
#   ^^^ keyword.other.instruction.x86-asm
#        ^^^ variable.language.register.general.x86-asm
    jnz 1b
#       ^^ entity.name.label.local.reference.x86-asm
    mov cr3, eax
#       ^^^ variable.language.register.control.x86-asm
    rdmsr
#   ^^^^^ keyword.other.instruction.x86-asm
    mov rsp, offset _start
#       ^^^ variable.language.register.general.x86-asm
    .quad 0x00cf9a000000ffff       # 0x08: 32-bit code, base 0, limit 4 GiB
#   ^^^^^ keyword.control.directive.x86-asm
#         ^^^^^^^^^^^^^^^^^^ constant.numeric.x86-asm
pml4: .skip 4096
# <---- entity.name.function.label.x86-asm
#     ^^^^^ keyword.control.directive.x86-asm
#           ^^^^ constant.numeric.x86-asm
