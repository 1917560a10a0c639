# SYNTAX TEST "source.x86-asm" "samples/exit-tour/exit-tour.S"
    .include "boot.inc"
#   ^^^^^^^^ keyword.control.directive.x86-asm
#             ^^^^^^^^ string.quoted.double.x86-asm
.macro EXPECT_FAULT counter, text, insn:vararg
# <------ keyword.control.directive.x86-asm
    mov rbx, [rip + \counter]
#             ^^^ variable.language.register.instruction-pointer.x86-asm
#                   ^^^^^^^^ variable.parameter.macro.x86-asm
.Lresume\@:
# <---------- entity.name.function.label.x86-asm
    mov rbx, cr0
#            ^^^ variable.language.register.control.x86-asm
    mov cr4, r12
#       ^^^ variable.language.register.control.x86-asm
#            ^^^ variable.language.register.general.x86-asm
tour_vmcall:
# <----------- entity.name.function.label.x86-asm
    vmcall
#   ^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "no #UD", vmxon [rip + vmx_region]
#                           ^^^^^^ string.quoted.double.x86-asm - comment.line.number-sign.x86-asm
#                                    ^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMCLEAR: no #UD", vmclear [rip + vmx_region]
#                                             ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMPTRLD: no #UD", vmptrld [rip + vmx_region]
#                                             ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMPTRST: no #UD", vmptrst [rip + vmx_region]
#                                             ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMREAD: no #UD", vmread rcx, rax
#                                            ^^^^^^ keyword.other.instruction.vmx.x86-asm
#                                                   ^^^ variable.language.register.general.x86-asm
    EXPECT_FAULT ud_count, "VMWRITE: no #UD", vmwrite rax, rcx
#                                             ^^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMLAUNCH: no #UD", vmlaunch
#                                              ^^^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMRESUME: no #UD", vmresume
#                                              ^^^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "VMXOFF: no #UD", vmxoff
#                                            ^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "INVEPT: no #UD", invept rax, [rip + vmx_region]
#                                            ^^^^^^ keyword.other.instruction.vmx.x86-asm
    EXPECT_FAULT ud_count, "INVVPID: no #UD", invvpid rax, [rip + vmx_region]
#                                             ^^^^^^^ keyword.other.instruction.vmx.x86-asm
vmx_region: .skip 4096             # an operand for the VMX instructions (never used: they #UD)
# <---------- entity.name.function.label.x86-asm
#           ^^^^^ keyword.control.directive.x86-asm
#                                  ^ comment.line.number-sign.x86-asm
