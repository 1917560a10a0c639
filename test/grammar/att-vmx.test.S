# SYNTAX TEST "source.x86-asm" "AT&T syntax: a VMX root-mode fragment (assembled by GNU as in the test)"
/* The fragment a hypervisor runs around VM entry, in GNU as's default AT&T syntax. */
# <-- comment.block.x86-asm punctuation.definition.comment.begin.x86-asm
    .att_syntax prefix
#   ^^^^^^^^^^^ keyword.control.directive.x86-asm
    .text
    .globl vmx_enter
#   ^^^^^^ keyword.control.directive.x86-asm
vmx_enter:
# <--------- entity.name.function.label.x86-asm
    movq %cr4, %rax                // read CR4
#   ^^^^ keyword.other.instruction.x86-asm
#        ^ punctuation.definition.variable.x86-asm
#         ^^^ variable.language.register.control.x86-asm
#              ^ punctuation.definition.variable.x86-asm
#               ^^^ variable.language.register.general.x86-asm
#                                  ^^^^^^^^^^^ comment.line.double-slash.x86-asm
    orq $0x2000, %rax              # CR4.VMXE (bit 13)
#       ^ punctuation.definition.immediate.x86-asm
#        ^^^^^^ constant.numeric.x86-asm
    movq %rax, %cr4
#               ^^^ variable.language.register.control.x86-asm
    movq %cr8, %rdx
#         ^^^ variable.language.register.control.x86-asm
    movq %dr7, %rcx
#         ^^^ variable.language.register.debug.x86-asm
    movq %rcx, %dr0
#               ^^^ variable.language.register.debug.x86-asm
    movw %fs, %ax
#         ^^ variable.language.register.segment.x86-asm
    movl %gs:0x10, %eax
#         ^^ variable.language.register.segment.x86-asm
    vmxon vmxon_region(%rip)
#   ^^^^^ keyword.other.instruction.vmx.x86-asm
#                     ^ punctuation.definition.brackets.x86-asm
#                       ^^^ variable.language.register.instruction-pointer.x86-asm
    jbe 1f
#       ^^ entity.name.label.local.reference.x86-asm
    vmclear vmcs_region(%rip)
#   ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmptrld vmcs_region(%rip)
#   ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmptrst vmcs_region(%rip)
#   ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    movq $0x681e, %rdx             /* GUEST_RIP */
#                                  ^^^^^^^^^^^^^^^ comment.block.x86-asm
    vmwrite %rax, %rdx
#   ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmread %rdx, %rax
#   ^^^^^^ keyword.other.instruction.vmx.x86-asm
    invept invept_desc(%rip), %rax
#   ^^^^^^ keyword.other.instruction.vmx.x86-asm
    invvpid invept_desc(%rip), %rax
#   ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmlaunch
#   ^^^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmresume
#   ^^^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmcall
#   ^^^^^^ keyword.other.instruction.vmx.x86-asm
    vmfunc
#   ^^^^^^ keyword.other.instruction.vmx.x86-asm
1:  vmxoff
# <- entity.name.label.local.x86-asm
#   ^^^^^^ keyword.other.instruction.vmx.x86-asm
    rep stosb
#   ^^^ storage.modifier.prefix.x86-asm
#       ^^^^^ keyword.other.instruction.x86-asm
    ret

sep_demo:
# <-------- entity.name.function.label.x86-asm
    movl %eax, %ebx; incl %ecx     # in GNU as, ";" separates statements
#                  ^ punctuation.separator.statement.x86-asm
#                    ^^^^ keyword.other.instruction.x86-asm
#                          ^^^ variable.language.register.general.x86-asm
#                                  ^^^^^^^^ comment.line.number-sign.x86-asm
    cpuid;vmcall
#        ^ punctuation.separator.statement.x86-asm
#         ^^^^^^ keyword.other.instruction.vmx.x86-asm
    .intel_syntax noprefix
#   ^^^^^^^^^^^^^ keyword.control.directive.x86-asm
    mov eax, ebx ; inc ecx
#                ^ punctuation.separator.statement.x86-asm
#                  ^^^ keyword.other.instruction.x86-asm
#                      ^^^ variable.language.register.general.x86-asm
    .att_syntax prefix
    ret

    .data
    .balign 16
invept_desc: .quad 0, 0
# <----------- entity.name.function.label.x86-asm
#            ^^^^^ keyword.control.directive.x86-asm
message: .asciz "VM entry failed\n"
#                ^^^^^^^^^^^^^^^ string.quoted.double.x86-asm
#                               ^^ constant.character.escape.x86-asm
    .bss
    .balign 4096
vmxon_region: .skip 4096
vmcs_region: .skip 4096
