// System V IPC fuzzer for the sentry (test/sentry/fuzz.test.ts): N processes each make 400 random
// shmget/shmat/shmdt/shmctl, semget/semop/semtimedop/semctl, msgget/msgsnd/msgrcv/msgctl calls with
// hostile arguments (ids of live objects half the time, bad pointers, huge sizes and counts, every
// cmd), forking now and then. Blocking forms mostly carry IPC_NOWAIT; a process that still blocks
// is ended by its 5 s alarm. Run natively it would touch the host's IPC namespace: run it only in a
// sandbox.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/sem.h>
#include <sys/msg.h>
#include <signal.h>
static char buf[65536];
static long ids[16]; static int nids;
static unsigned long arg(void){
  switch(random()%10){case 0:return 0;case 1:return -1UL;case 2:return random()%16;case 3:return (unsigned long)buf+random()%4096;
  case 4:return random();case 5:return 0x7ff000000000UL;case 6:return 1UL<<(random()%64);case 7: return nids?ids[random()%nids]:0; default:return random()%70000;}
}
static long id(void){ return nids && random()%4 ? ids[random()%nids] : (long)arg(); }
int main(int argc,char**argv){
  int procs=atoi(argv[1]); srandom(atoi(argv[2]));
  for(int p=0;p<procs;p++){ long seed=random(); pid_t c=fork(); if(c==0){ srandom(seed); alarm(5);
    for(int i=0;i<400;i++){ long r=0; int k=random()%12;
      for(int j=0;j<256;j++) ((long*)buf)[j]= random()%3? random()%8 : (long)arg();
      switch(k){
      case 0: r=syscall(SYS_shmget, random()%3?IPC_PRIVATE:(key_t)(random()%5), random()%3? random()%100000 : arg(), (random()%2?IPC_CREAT:0)|(random()%4?0600:arg())); break;
      case 1: r=syscall(SYS_shmat, id(), random()%3?0:arg(), random()%3? (random()%2?SHM_RDONLY:0) : arg()); if(r>0 && random()%2) syscall(SYS_shmdt, r); break;
      case 2: r=syscall(SYS_shmctl, id(), random()%3? IPC_STAT+random()%15 : arg(), random()%3?(unsigned long)buf:arg()); break;
      case 3: r=syscall(SYS_semget, random()%3?IPC_PRIVATE:(key_t)(random()%5), random()%3? random()%40 : arg(), (random()%2?IPC_CREAT:0)|0600); break;
      case 4: { struct sembuf *s=(void*)buf; int n=random()%3? random()%8 : (int)arg(); for(int j=0;j<8;j++){ s[j].sem_num=random()%4? random()%8: arg(); s[j].sem_op=random()%7-3; s[j].sem_flg= IPC_NOWAIT | (random()%2?SEM_UNDO:0);} r=syscall(SYS_semop, id(), random()%8?(unsigned long)buf:arg(), n); break; }
      case 5: { struct timespec ts={0, random()%1000000}; struct sembuf *s=(void*)buf; for(int j=0;j<4;j++){ s[j].sem_num=random()%4; s[j].sem_op=random()%5-2; s[j].sem_flg=random()%2?SEM_UNDO:0;} r=syscall(SYS_semtimedop, id(), buf, random()%5, random()%4?(unsigned long)&ts:arg()); break; }
      case 6: r=syscall(SYS_semctl, id(), random()%4? random()%8 : arg(), random()%3? random()%20 : arg(), random()%2?(unsigned long)buf:arg()); break;
      case 7: r=syscall(SYS_msgget, random()%3?IPC_PRIVATE:(key_t)(random()%5), (random()%2?IPC_CREAT:0)|0600); break;
      case 8: r=syscall(SYS_msgsnd, id(), random()%8?(unsigned long)buf:arg(), random()%3? random()%9000 : arg(), IPC_NOWAIT|(random()%2?0:arg()&~0UL)); break;
      case 9: r=syscall(SYS_msgrcv, id(), random()%8?(unsigned long)buf:arg(), random()%3? random()%9000 : arg(), random()%3? random()%5 - 2 : (long)arg(), IPC_NOWAIT | (random()%2? MSG_NOERROR:0) | (random()%4? 0 : (random()%2? 040000 : 020000))); break;
      case 10: r=syscall(SYS_msgctl, id(), random()%3? random()%15 : arg(), random()%3?(unsigned long)buf:arg()); break;
      case 11: if(random()%3==0){ pid_t g=fork(); if(g==0){ _exit(0);} else if(g>0) waitpid(g,0,0);} break;
      }
      if(r>=0 && r<100000000 && nids<16 && (k==0||k==3||k==7)) ids[nids++]=r;
    }
    _exit(0);} }
  while(wait(NULL)>0);
  printf("ipcfuzz done\n"); return 0;
}
