"""Pages of sales support: tasks (list, board, suggestions, detail) and quick wins."""

from django.urls import path

from support.views import quickwins, tasks

urlpatterns = [
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/board/", tasks.task_board, name="task-board"),
    path("tasks/new/", tasks.task_create, name="task-create"),
    path("tasks/suggestions/", tasks.task_suggestions, name="task-suggestions"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task-detail"),
    path("tasks/<int:pk>/transition/", tasks.task_transition, name="task-transition"),
    path("tasks/<int:pk>/assign/", tasks.task_assign, name="task-assign"),
    path("tasks/<int:pk>/comment/", tasks.task_comment, name="task-comment"),
    path("quick-wins/", quickwins.quickwins, name="quickwins"),
]
