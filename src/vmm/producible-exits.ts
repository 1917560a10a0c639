// The basic exit reasons this machine's processor can produce (src/hardware/vmx: non-root.ts
// for exits from guest instructions and events, vm-entry.ts for the entry failures 33 and 34),
// in Appendix C order. The debugger offers one exit-reason breakpoint per entry; a test keeps
// the list in step with the reasons the VMX core names.

export const PRODUCIBLE_EXIT_REASONS: readonly string[] = Object.freeze([
  'EXCEPTION_NMI', 'EXTERNAL_INTERRUPT', 'TRIPLE_FAULT', 'INTERRUPT_WINDOW', 'NMI_WINDOW',
  'TASK_SWITCH', 'CPUID', 'HLT', 'INVD', 'INVLPG', 'RDPMC', 'RDTSC', 'VMCALL', 'VMCLEAR',
  'VMLAUNCH', 'VMPTRLD', 'VMPTRST', 'VMREAD', 'VMRESUME', 'VMWRITE', 'VMOFF', 'VMON',
  'CR_ACCESS', 'DR_ACCESS', 'IO_INSTRUCTION', 'MSR_READ', 'MSR_WRITE', 'INVALID_GUEST_STATE',
  'MSR_LOAD_FAIL', 'MWAIT_INSTRUCTION', 'MONITOR_TRAP_FLAG', 'MONITOR_INSTRUCTION',
  'PAUSE_INSTRUCTION', 'GDTR_IDTR', 'LDTR_TR', 'EPT_VIOLATION', 'EPT_MISCONFIG', 'INVEPT',
  'RDTSCP', 'PREEMPTION_TIMER', 'INVVPID', 'WBINVD', 'XSETBV', 'RDRAND', 'VMFUNC', 'RDSEED',
]);
