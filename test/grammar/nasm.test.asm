; SYNTAX TEST "source.x86-nasm" "NASM-style source"
%include "defs.inc"
; <- meta.preprocessor.nasm.x86-asm punctuation.definition.directive.x86-asm
;^^^^^^^ keyword.control.directive.preprocessor.x86-asm
%define VMCS_GUEST_RIP 0x681e
;^^^^^^ keyword.control.directive.preprocessor.x86-asm
        bits 64
;       ^^^^ keyword.control.directive.nasm.x86-asm
;            ^^ constant.numeric.x86-asm
        section .text
;       ^^^^^^^ keyword.control.directive.nasm.x86-asm
        global vm_exit_handler
;       ^^^^^^ keyword.control.directive.nasm.x86-asm
vm_exit_handler:
; <--------------- entity.name.function.label.x86-asm
        mov rax, VMCS_GUEST_RIP ; field encoding
;       ^^^ keyword.other.instruction.x86-asm
;           ^^^ variable.language.register.general.x86-asm
;                               ^^^^^^^^^^^^^^^^ comment.line.semicolon.x86-asm
        vmread rbx, rax
;       ^^^^^^ keyword.other.instruction.vmx.x86-asm
        add rbx, 3
        vmwrite rax, rbx
;       ^^^^^^^ keyword.other.instruction.vmx.x86-asm
        mov ecx, 0C0000080h
;                ^^^^^^^^^^ constant.numeric.x86-asm
        mov rdx, cr0
;                ^^^ variable.language.register.control.x86-asm
        mov dr6, rdx
;           ^^^ variable.language.register.debug.x86-asm
        vmresume
;       ^^^^^^^^ keyword.other.instruction.vmx.x86-asm
        mov eax, 1 ; inc ecx: in NASM the rest of the line is a comment
;                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ comment.line.semicolon.x86-asm
%define ONE 1 ; a comment after a preprocessor line
;             ^^^^^^^^^^^ comment.line.semicolon.x86-asm
        section .data
greeting db "hello", 10, 0
; <-------- entity.name.function.label.x86-asm
;        ^^ keyword.control.directive.nasm.x86-asm
;           ^^^^^^^ string.quoted.double.x86-asm
;                    ^^ constant.numeric.x86-asm
EFER    equ 0xC0000080
; <---- entity.name.function.label.x86-asm
;       ^^^ keyword.control.directive.nasm.x86-asm
/* block comments work here too */
; <-- comment.block.x86-asm
